// Istio's CA RPC over real gRPC on loopback: our client against our server.
import { X509Certificate } from 'node:crypto';
import { IstioCertificateRequest, IstioCertificateResponse, Methods, structFromPlain } from '@ambient/proto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CaClient,
  CaService,
  type CertificateAuthority,
  certificateUris,
  Identity,
  staticAllowList,
} from '../src/index.js';
import { newCa } from './helpers.js';

let server: grpc.Server;
let port: number;
let ca: CertificateAuthority;
let ready = true;

beforeAll(async () => {
  ca = await newCa();
  server = new grpc.Server();
  new CaService({
    ca: () => (ready ? ca : undefined),
    authorize: staticAllowList({ 'node1-token': ['spiffe://cluster.local/ns/shop/*'] }),
  }).addTo(server);
  port = await new Promise((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
});
afterAll(() => server.forceShutdown());

const client = (token: string) =>
  new CaClient({
    address: `127.0.0.1:${port}`,
    headers: () => ({ authorization: `Bearer ${token}`, clusterid: 'Kubernetes' }),
    ttlSeconds: 3600,
  });

function rawCall(csr: string, metadata: Record<string, string>): Promise<grpc.ServiceError | string[]> {
  const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set('authorization', 'Bearer node1-token');
  return new Promise((resolve) => {
    c.makeUnaryRequest(
      Methods.createCertificate,
      (m: unknown) => Buffer.from(IstioCertificateRequest.encode(m as never)),
      (b: Buffer) => IstioCertificateResponse.decode(b),
      { csr, validityDuration: 60, metadata: structFromPlain(metadata) },
      md,
      (err, value) => {
        c.close();
        resolve(err ?? value!.certChain);
      },
    );
  });
}

describe('CA RPC', () => {
  it('issues an impersonated identity to an allowed caller, chain leaf→root', async () => {
    const c = client('node1-token');
    const cert = await c.fetchCertificate(Identity.parse('spiffe://cluster.local/ns/shop/sa/web'));
    c.close();
    expect(certificateUris(new X509Certificate(cert.certPem))).toEqual([
      'spiffe://cluster.local/ns/shop/sa/web',
    ]);
    expect(cert.rootPem).toBe(ca.rootPem);
    expect((cert.notAfter.getTime() - Date.now()) / 1000).toBeGreaterThan(3500);
  });

  it('refuses an identity the caller may not have: PERMISSION_DENIED with the reason', async () => {
    const c = client('node1-token');
    await expect(
      c.fetchCertificate(Identity.parse('spiffe://cluster.local/ns/bank/sa/vault')),
    ).rejects.toThrow(
      /PERMISSION_DENIED: this caller may not obtain a certificate for spiffe:\/\/cluster.local\/ns\/bank\/sa\/vault/,
    );
    c.close();
  });

  it('refuses an unknown token: UNAUTHENTICATED', async () => {
    const c = client('stolen');
    await expect(c.fetchCertificate(Identity.parse('spiffe://cluster.local/ns/shop/sa/web'))).rejects.toThrow(
      /UNAUTHENTICATED/,
    );
    c.close();
  });

  it('rejects a malformed CSR: INVALID_ARGUMENT with a message', async () => {
    const err = (await rawCall(
      '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n',
      {
        ImpersonatedIdentity: 'spiffe://cluster.local/ns/shop/sa/web',
      },
    )) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/malformed CSR/);
  });

  it('answers UNAVAILABLE while the CA is not ready', async () => {
    ready = false;
    try {
      const c = client('node1-token');
      await expect(
        c.fetchCertificate(Identity.parse('spiffe://cluster.local/ns/shop/sa/web')),
      ).rejects.toThrow(/UNAVAILABLE: the CA is not ready/);
      c.close();
    } finally {
      ready = true;
    }
  });
});
