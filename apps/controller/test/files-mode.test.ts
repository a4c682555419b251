// Files mode end to end on loopback: the controller serves a directory of Kubernetes YAML;
// two real ztunnel processes configured with only the control plane's address and root
// get their workloads, policies and certificates over TLS; a policy edit on disk is enforced
// within a second; a broken file is reported and changes nothing.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Child,
  exchange,
  mintTokenFile,
  type RunningServer,
  Supervisor,
  socksConnect,
  startHttpEcho,
  ztunnelSubject,
} from '@ambient/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { Controller } from '../src/server.js';

const ZTUNNEL = fileURLToPath(new URL('../../ztunnel/dist/main.js', import.meta.url));
const CLIENT = '127.0.40.1';
const SERVER = '127.0.50.1';

const dir = mkdtempSync(path.join(tmpdir(), 'ctl-files-'));
const configDir = path.join(dir, 'config');
let controller: Controller;
let sup: Supervisor;
const ztunnels: Child[] = [];
let app: RunningServer;

const mesh = `
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    istio.io/dataplane-mode: ambient
---
apiVersion: v1
kind: Pod
metadata:
  name: web-6d8f7b9c5-abcde
  namespace: shop
  labels: {app: web}
spec:
  nodeName: node1
  serviceAccountName: web
  containers: [{name: web}]
status:
  phase: Running
  podIP: ${CLIENT}
---
apiVersion: v1
kind: Pod
metadata:
  name: reviews-v1-5c7d9f8b6-fghij
  namespace: shop
  labels: {app: reviews, version: v1}
spec:
  nodeName: node2
  serviceAccountName: bookinfo-reviews
  containers: [{name: reviews, ports: [{name: http, containerPort: 9080}]}]
status:
  phase: Running
  podIP: ${SERVER}
---
apiVersion: v1
kind: Service
metadata:
  name: reviews
  namespace: shop
spec:
  clusterIP: 127.0.99.20
  selector: {app: reviews}
  ports: [{name: http, port: 80, targetPort: http}]
`;

// Istio's documented form, unchanged.
const denyWeb = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-web
  namespace: shop
spec:
  action: DENY
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/shop/sa/web"]
`;

async function startZtunnel(node: string, host: string): Promise<Child> {
  const addr = `https://127.0.0.1:${controller.ports.xdsTls}`;
  const root = path.join(dir, 'ca', 'root-cert.pem');
  const token = await mintTokenFile(path.join(dir, 'ca'), ztunnelSubject(node));
  return sup.start({
    name: `ztunnel-${node}`,
    command: process.execPath,
    args: [ZTUNNEL],
    env: {
      NODE_NAME: node,
      XDS_ADDRESS: addr,
      CA_ADDRESS: addr,
      XDS_ROOT_CA: root,
      CA_ROOT_CA: root,
      AUTH_TOKEN: token,
      UNSTABLE_ENABLE_SOCKS5: 'true',
      AMBIENT_SOCKS5_ADDR: `${host}:15080`,
      AMBIENT_ADMIN_ADDR: `${host}:15000`,
      AMBIENT_STATS_ADDR: `${host}:15020`,
      AMBIENT_READINESS_ADDR: `${host}:15021`,
    },
    ready: { http: `http://${host}:15021/healthz/ready` },
    readyTimeoutMs: 20_000,
  });
}

async function call(): Promise<'ok' | 'refused'> {
  try {
    const sock = await socksConnect({
      proxyHost: '127.0.3.1',
      proxyPort: 15080,
      localAddress: CLIENT,
      dstIp: '127.0.99.20',
      dstPort: 80,
    });
    const raw = (
      await exchange(sock, 'GET / HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n', 3000)
    ).toString();
    return raw.startsWith('HTTP/1.1 200') ? 'ok' : 'refused';
  } catch {
    return 'refused';
  }
}

beforeAll(async () => {
  const { mkdirSync } = await import('node:fs');
  mkdirSync(configDir);
  writeFileSync(path.join(configDir, 'mesh.yaml'), mesh);
  controller = new Controller(
    loadConfig({
      AMBIENT_CONFIG_DIR: configDir,
      AMBIENT_CA_DIR: path.join(dir, 'ca'),
      AMBIENT_XDS_PLAINTEXT_ADDR: '127.0.0.1:0',
      AMBIENT_XDS_TLS_ADDR: '127.0.0.1:0',
      AMBIENT_DEBUG_ADDR: '127.0.0.1:0',
      AMBIENT_DEBOUNCE_MS: '50',
      LOG_LEVEL: 'warn',
    }),
  );
  await controller.start();
  app = await startHttpEcho({ port: 9080, host: SERVER, podName: 'reviews' });
  sup = new Supervisor(path.resolve('test-logs', 'controller-files-mode'));
  ztunnels.push(await startZtunnel('node1', '127.0.3.1'), await startZtunnel('node2', '127.0.3.2'));
}, 60_000);

afterAll(async () => {
  await sup?.stopAll(2000);
  await app?.close();
  await controller?.stop();
});

describe('controller in files mode', () => {
  it('ztunnels get workloads, services and certificates; a service call goes through both', async () => {
    expect(await call()).toBe('ok');
    const dump = (await (await fetch('http://127.0.3.1:15000/config_dump')).json()) as {
      workloads: { name: string; protocol: string }[];
      certificates: { identity: string; state: string }[];
    };
    expect(dump.workloads.map((w) => [w.name, w.protocol]).sort()).toEqual([
      ['reviews-v1-5c7d9f8b6-fghij', 'HBONE'],
      ['web-6d8f7b9c5-abcde', 'HBONE'],
    ]);
    expect(dump.certificates).toContainEqual(
      expect.objectContaining({ identity: 'spiffe://cluster.local/ns/shop/sa/web', state: 'Available' }),
    );
    const syncz = (await (await fetch(`http://127.0.0.1:${controller.ports.debug}/debug/syncz`)).json()) as {
      proxy: { id: string };
      types: { acks: number }[];
    }[];
    expect(syncz).toHaveLength(2);
    expect(syncz.every((c) => c.types.every((t) => t.acks >= 1))).toBe(true);
  });

  it('a policy written to the directory is enforced within a second, and removing it lifts it', async () => {
    const t0 = Date.now();
    writeFileSync(path.join(configDir, 'deny-web.yaml'), denyWeb);
    while ((await call()) === 'ok') {
      if (Date.now() - t0 > 3000) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const elapsed = Date.now() - t0;
    expect(await call()).toBe('refused');
    expect(elapsed).toBeLessThan(1500);
    // Every proxy's ACK of the change was measured.
    const metrics = await (await fetch(`http://127.0.0.1:${controller.ports.debug}/metrics`)).text();
    const count = Number(/^ambient_controller_convergence_seconds_count (\d+)/m.exec(metrics)?.[1] ?? 0);
    expect(count).toBeGreaterThanOrEqual(2);
    expect(metrics).toMatch(/^ambient_controller_connected_proxies 2$/m);
    const { rmSync } = await import('node:fs');
    rmSync(path.join(configDir, 'deny-web.yaml'));
    const t1 = Date.now();
    while ((await call()) !== 'ok' && Date.now() - t1 < 3000) await new Promise((r) => setTimeout(r, 50));
    expect(await call()).toBe('ok');
  });

  it('a broken YAML file is reported with its name and changes nothing', async () => {
    const before = readFileSync(path.join(configDir, 'mesh.yaml'), 'utf8');
    writeFileSync(
      path.join(configDir, 'mesh.yaml'),
      `${before}\n---\nkind: Pod\nmetadata: {name: [unclosed\n`,
    );
    writeFileSync(
      path.join(configDir, 'typo.yaml'),
      'apiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: shop}\nspec: {ports: [{port: "eighty"}]}\n',
    );
    await new Promise((r) => setTimeout(r, 400));
    const cfg = (await (await fetch(`http://127.0.0.1:${controller.ports.debug}/debug/config`)).json()) as {
      loadErrors: { file: string; object?: string; field?: string; reason: string }[];
    };
    expect(cfg.loadErrors).toContainEqual(
      expect.objectContaining({ file: 'mesh.yaml', reason: expect.stringContaining('invalid YAML') }),
    );
    expect(cfg.loadErrors).toContainEqual(
      expect.objectContaining({ file: 'typo.yaml', object: 'Service/shop/bad', field: 'spec.ports.0.port' }),
    );
    expect(await call()).toBe('ok'); // the last good state keeps serving
    writeFileSync(path.join(configDir, 'mesh.yaml'), before);
  });
});
