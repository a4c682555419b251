// A fake control plane (our XdsServer + CaService, as ztunnel's own tests use a fake
// istiod) and helpers to run real ztunnel processes against it on loopback. Every workload
// is an address on 127.0.0.0/8; applications enter the mesh through ztunnel's SOCKS5 port.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CaService, CertificateAuthority, staticAllowList } from '@ambient/mtls';
import { Address, Authorization, type Init, type istio } from '@ambient/proto';
import type { Child, Supervisor } from '@ambient/testkit';
import { ResourceCache, XdsServer } from '@ambient/xds';
import * as grpc from '@grpc/grpc-js';

export const ZTUNNEL_MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

export interface ControlPlane {
  cache: ResourceCache;
  xdsPort: number;
  caPort: number;
  close(): Promise<void>;
}

export async function startControlPlane(tokens: Record<string, string[]>): Promise<ControlPlane> {
  const cache = new ResourceCache();
  const xds = new XdsServer({ cache, debounceMs: 10 });
  const xdsPort = await xds.listen('127.0.0.1:0');
  const ca = await CertificateAuthority.loadOrCreate(mkdtempSync(path.join(tmpdir(), 'zt-ca-')));
  const caServer = new grpc.Server();
  new CaService({ ca, authorize: staticAllowList(tokens) }).addTo(caServer);
  const caPort = await new Promise<number>((res, rej) =>
    caServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? rej(e) : res(p),
    ),
  );
  return {
    cache,
    xdsPort,
    caPort,
    close: async () => {
      await xds.close();
      caServer.forceShutdown();
    },
  };
}

export function ip4(ip: string): Uint8Array {
  return Uint8Array.from(ip.split('.').map(Number));
}

export function workload(
  name: string,
  ip: string,
  node: string,
  extra: Init<istio.workload.Workload> = {},
): Init<istio.workload.Address> {
  return {
    workload: {
      uid: `Kubernetes//Pod/shop/${name}`,
      name,
      namespace: 'shop',
      addresses: [ip4(ip)],
      tunnelProtocol: 1,
      serviceAccount: name,
      node,
      workloadName: name,
      canonicalName: name,
      canonicalRevision: 'v1',
      ...extra,
    },
  };
}

export function setWorkload(cp: ControlPlane, a: Init<istio.workload.Address>): void {
  cp.cache.set(Address, a.workload!.uid!, a);
}

export function setPolicy(cp: ControlPlane, p: Init<istio.security.Authorization>): void {
  cp.cache.set(Authorization, `${p.namespace}/${p.name}`, p);
}

export interface ZtunnelProcess {
  child: Child;
  node: string;
  /** 127.0.1.N: where this ztunnel's admin, stats, readiness and SOCKS5 ports live. */
  host: string;
  socksPort: number;
  logLines(): Promise<Record<string, unknown>[]>;
  metrics(): Promise<string>;
  configDump(): Promise<Record<string, unknown>>;
}

export async function startZtunnel(
  sup: Supervisor,
  cp: ControlPlane,
  node: string,
  host: string,
  env: Record<string, string> = {},
): Promise<ZtunnelProcess> {
  const child = await sup.start({
    name: `ztunnel-${node}`,
    command: process.execPath,
    args: [ZTUNNEL_MAIN],
    env: {
      NODE_NAME: node,
      XDS_ADDRESS: `http://127.0.0.1:${cp.xdsPort}`,
      CA_ADDRESS: `http://127.0.0.1:${cp.caPort}`,
      AUTH_TOKEN: `token-${node}`,
      POD_NAME: `ztunnel-${node}`,
      UNSTABLE_ENABLE_SOCKS5: 'true',
      AMBIENT_SOCKS5_ADDR: `${host}:15080`,
      AMBIENT_ADMIN_ADDR: `${host}:15000`,
      AMBIENT_STATS_ADDR: `${host}:15020`,
      AMBIENT_READINESS_ADDR: `${host}:15021`,
      LOG_LEVEL: 'info',
      ...env,
    },
    ready: { http: `http://${host}:15021/healthz/ready` },
    readyTimeoutMs: 20_000,
  });
  return {
    child,
    node,
    host,
    socksPort: 15080,
    logLines: async () =>
      (await child.output())
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    metrics: async () => (await fetch(`http://${host}:15020/metrics`)).text(),
    configDump: async () =>
      (await (await fetch(`http://${host}:15000/config_dump`)).json()) as Record<string, unknown>,
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function eventually(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for: ${what}`);
    await sleep(50);
  }
}
