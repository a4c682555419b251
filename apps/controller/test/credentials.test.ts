// Attacks on the controller's credentials, on loopback against a real controller (files
// mode): the CA RPC and both xDS ports with no token, a forged or expired token, a workload's
// token, and a node agent's token used beyond its node. Before the fix, CreateCertificate
// needed no token at all and issued any identity some pod ran as; xDS served everyone.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CaClient, Identity, TOKEN_KEY_FILE, TokenIssuer } from '@ambient/mtls';
import { TypeUrl } from '@ambient/proto';
import { istioTypes, XdsClient } from '@ambient/xds';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caAuthorizer } from '../src/ca-authorizer.js';
import type { Controller } from '../src/server.js';
import { ModelStore } from '../src/store.js';
import { startTestController, type TestController } from './helpers.js';

let t: TestController;
let controller: Controller;
let caDir: string;
let dir: string;
let issuer: TokenIssuer;

const cluster = `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: shop}
spec: {nodeName: node1, serviceAccountName: web, containers: [{name: web}]}
status: {phase: Running, podIP: 10.244.1.2}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-1, namespace: shop}
spec: {nodeName: node2, serviceAccountName: reviews, containers: [{name: reviews}]}
status: {phase: Running, podIP: 10.244.2.2}
---
apiVersion: v1
kind: Pod
metadata: {name: pending-1, namespace: shop}
spec: {serviceAccountName: pending, containers: [{name: pending}]}
status: {phase: Pending}
`;

const grpcStatusName = (code: number) => grpc.status[code] ?? String(code);
const id = (sa: string, ns = 'shop') => new Identity('cluster.local', ns, sa);
const ztunnel = (node?: string) => ({
  namespace: 'ambient-system',
  serviceAccount: 'ztunnel',
  ...(node ? { node } : {}),
});

/** One CreateCertificate call: 'issued' or the gRPC status name with its message. */
async function requestCert(
  identity: Identity,
  token: string | undefined,
  impersonate: boolean,
): Promise<string> {
  const client = new CaClient({
    address: `127.0.0.1:${controller.ports.xdsTls}`,
    tls: { rootCert: readFileSync(path.join(caDir, 'root-cert.pem')) },
    impersonate,
    headers: (): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {}),
    timeoutMs: 5000,
  });
  try {
    const cert = await client.fetchCertificate(identity);
    return cert.identity.toString() === identity.toString() ? 'issued' : `wrong identity ${cert.identity}`;
  } catch (err) {
    return String((err as Error).message);
  } finally {
    client.close();
  }
}

/** Opens a Delta stream; resolves with the Address names received, or the error that ended it. */
async function subscribe(
  port: number,
  tls: boolean,
  token: string | undefined,
  metadata: Record<string, string>,
): Promise<{ addresses: number } | { error: string }> {
  const client = new XdsClient({
    address: `127.0.0.1:${port}`,
    node: { id: 'ztunnel~10.0.0.1~zt.ambient-system~ambient-system.svc.cluster.local', metadata },
    types: [istioTypes.address, istioTypes.authorization] as never,
    ...(tls ? { tls: { rootCert: readFileSync(path.join(caDir, 'root-cert.pem')) } } : {}),
    headers: (): Record<string, string> => (token ? { authorization: `Bearer ${token}` } : {}),
  });
  try {
    return await new Promise((resolve) => {
      client.on('stream-end', (e: { code: number; details: string }) =>
        resolve({ error: `${grpcStatusName(e.code)}: ${e.details}` }),
      );
      client.once('ready', () => resolve({ addresses: client.list(TypeUrl.Address).size }));
      client.start();
      setTimeout(() => resolve({ error: 'timed out' }), 5000);
    });
  } finally {
    client.close();
  }
}

beforeAll(async () => {
  t = await startTestController(cluster, { AMBIENT_XDS_PLAINTEXT_ADDR: '127.0.0.1:0' });
  ({ controller, caDir, dir } = t);
  issuer = TokenIssuer.load(path.join(caDir, TOKEN_KEY_FILE));
}, 30_000);

afterAll(() => t?.stop());

describe('the CA authenticates every caller and issues only what istiod would', () => {
  it('no token: refused (was: any identity some pod runs as)', async () => {
    expect(await requestCert(id('web'), undefined, false)).toMatch(/UNAUTHENTICATED|no bearer token/);
    expect(await requestCert(id('web'), undefined, true)).toMatch(/UNAUTHENTICATED|no bearer token/);
  });

  it('a token signed by another key, an expired one, a garbage one: refused', async () => {
    const other = TokenIssuer.loadOrCreate(path.join(dir, 'other-key.pem'));
    const forged = await other.sign({ namespace: 'shop', serviceAccount: 'web' }, 3600);
    expect(await requestCert(id('web'), forged, false)).toMatch(/token rejected/);
    const expired = await issuer.sign({ namespace: 'shop', serviceAccount: 'web' }, -60);
    expect(await requestCert(id('web'), expired, false)).toMatch(/token rejected: token expired/);
    expect(await requestCert(id('web'), 'not-a-jwt', false)).toMatch(/token rejected/);
  });

  it("a workload gets its own identity, never another's", async () => {
    const web = await issuer.sign({ namespace: 'shop', serviceAccount: 'web' }, 3600);
    expect(await requestCert(id('web'), web, false)).toBe('issued');
    expect(await requestCert(id('reviews'), web, false)).toMatch(/PERMISSION_DENIED|may not obtain/);
    expect(await requestCert(id('reviews'), web, true)).toMatch(/may not obtain/);
  });

  it('a node agent impersonates only pods on its own node', async () => {
    const node1 = await issuer.sign(ztunnel('node1'), 3600);
    expect(await requestCert(id('web'), node1, true)).toBe('issued');
    expect(await requestCert(id('reviews'), node1, true)).toMatch(/no pod of .*reviews on node node1/);
    // An identity no pod runs as, and a pod not scheduled anywhere yet.
    expect(await requestCert(id('ghost'), node1, true)).toMatch(/no pod of/);
    expect(await requestCert(id('pending'), node1, true)).toMatch(/no pod of/);
  });

  it('a node agent token without a node impersonates nothing (not even unscheduled pods)', async () => {
    const nodeless = await issuer.sign(ztunnel(), 3600);
    expect(await requestCert(id('pending'), nodeless, true)).toMatch(/not bound to a node/);
    expect(await requestCert(id('web'), nodeless, true)).toMatch(/not bound to a node/);
  });

  it('another service account with a node claim is not a node agent', async () => {
    const fake = await issuer.sign({ namespace: 'shop', serviceAccount: 'web', node: 'node2' }, 3600);
    expect(await requestCert(id('reviews'), fake, true)).toMatch(/may not obtain/);
  });
});

describe('kube mode: TokenReview answers', () => {
  it('a reviewed token without a node name never matches an unscheduled pod', async () => {
    const s = new ModelStore();
    s.upsert('test', {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p', namespace: 'shop' },
      spec: { serviceAccountName: 'pending', containers: [{ name: 'c' }] },
      status: { phase: 'Pending' },
    } as never);
    const authorize = caAuthorizer(s, {
      review: async () => ({ authenticated: true, username: 'system:serviceaccount:istio-system:ztunnel' }),
    });
    await expect(
      authorize({ token: 't', clusterId: '', peer: '', requested: id('pending'), impersonating: true }),
    ).rejects.toThrow(/not bound to a node/);
  });
});

describe('xDS authenticates every stream', () => {
  const meta = { NAMESPACE: 'ambient-system', NODE_NAME: 'node1' };

  for (const [name, tls] of [
    ['15012 (TLS)', true],
    ['15010 (plaintext)', false],
  ] as const) {
    const port = () => (tls ? controller.ports.xdsTls! : controller.ports.xdsPlaintext!);

    it(`${name}: no token or a forged one gets nothing (was: every workload, service and policy)`, async () => {
      expect(await subscribe(port(), tls, undefined, meta)).toEqual({
        error: expect.stringMatching(/no bearer token/),
      });
      const forged = await TokenIssuer.loadOrCreate(path.join(dir, 'other-key.pem')).sign(
        ztunnel('node1'),
        60,
      );
      expect(await subscribe(port(), tls, forged, meta)).toEqual({
        error: expect.stringMatching(/token rejected/),
      });
    });

    it(`${name}: a node agent's token is served as the proxy of its node only`, async () => {
      const node1 = await issuer.sign(ztunnel('node1'), 3600);
      expect(await subscribe(port(), tls, node1, meta)).toEqual({ addresses: 2 });
      expect(await subscribe(port(), tls, node1, { ...meta, NODE_NAME: 'node2' })).toEqual({
        error: expect.stringMatching(/may not connect as the proxy of node node2/),
      });
    });

    it(`${name}: a workload's token may not pose as a proxy of another namespace`, async () => {
      const web = await issuer.sign({ namespace: 'shop', serviceAccount: 'web' }, 3600);
      expect(await subscribe(port(), tls, web, meta)).toEqual({
        error: expect.stringMatching(/may not connect as a proxy of namespace ambient-system/),
      });
    });
  }
});
