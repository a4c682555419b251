import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  AccessLog,
  type BoundServer,
  createLogger,
  Readiness,
  Registry,
  registerBuildInfo,
  startAdminServer,
  startReadinessServer,
  startStatsServer,
  TcpMetrics,
  tcpLabels,
} from '../src/index.js';

const servers: BoundServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});
const url = (s: BoundServer, path: string) => `http://127.0.0.1:${s.address.port}${path}`;

describe('TCP metrics', () => {
  const conn = {
    reporter: 'destination' as const,
    source: { workload: 'web', namespace: 'shop', principal: 'spiffe://cluster.local/ns/shop/sa/web' },
    destination: {
      workload: 'reviews-v2',
      namespace: 'shop',
      canonicalService: 'reviews',
      canonicalRevision: 'v2',
      zone: 'eu-1b',
      region: 'eu',
    },
    mutualTls: true,
  };

  it('fills every Istio label, missing values as unknown, locality only when known', () => {
    const l = tcpLabels(conn, 'DENY');
    expect(l).toMatchObject({
      reporter: 'destination',
      source_workload: 'web',
      source_canonical_service: 'unknown',
      source_cluster: 'unknown',
      source_principal: 'spiffe://cluster.local/ns/shop/sa/web',
      destination_service: 'unknown',
      destination_app: 'reviews',
      destination_version: 'v2',
      request_protocol: 'tcp',
      response_flags: 'DENY',
      connection_security_policy: 'mutual_tls',
      destination_zone: 'eu-1b',
      destination_region: 'eu',
    });
    expect('source_zone' in l).toBe(false);
  });

  it('exposes the istio_ series on /metrics and /stats/prometheus', async () => {
    const registry = new Registry();
    const m = new TcpMetrics(registry);
    registerBuildInfo(registry, 'ztunnel', '0.1.0');
    m.record(conn, '-', { fromClient: 100, toClient: 2000 }, false);
    const s = await startStatsServer('127.0.0.1', 0, registry);
    servers.push(s);
    for (const path of ['/metrics', '/stats/prometheus']) {
      const text = await (await fetch(url(s, path))).text();
      expect(text).toMatch(
        /istio_tcp_connections_opened_total\{reporter="destination",source_workload="web",.*response_flags="-".*\} 1/,
      );
      expect(text).toMatch(/istio_tcp_received_bytes_total\{.*\} 100/);
      expect(text).toMatch(/istio_tcp_sent_bytes_total\{.*\} 2000/);
      expect(text).toContain('istio_build{component="ztunnel",tag="0.1.0"} 1');
    }
    expect((await fetch(url(s, '/other'))).status).toBe(404);
  });
});

describe('readiness server', () => {
  it('answers 500 with the pending tasks, then 200 ready', async () => {
    const r = new Readiness();
    const doneXds = r.register('state manager');
    r.register('proxy');
    const s = await startReadinessServer('127.0.0.1', 0, r);
    servers.push(s);
    let res = await fetch(url(s, '/healthz/ready'));
    expect([res.status, await res.text()]).toEqual([500, 'not ready, pending: proxy, state manager\n']);
    doneXds();
    r.done('proxy');
    res = await fetch(url(s, '/healthz/ready'));
    expect([res.status, await res.text()]).toEqual([200, 'ready\n']);
    expect((await fetch(url(s, '/healthz/ready'), { method: 'POST' })).status).toBe(405);
  });
});

describe('admin server', () => {
  it('serves config_dump, changes the log level, and shuts down on POST /quitquitquit', async () => {
    const logger = createLogger({ component: 'test', destination: new PassThrough() });
    let quit = 0;
    const s = await startAdminServer('127.0.0.1', 0, {
      configDump: () => ({ workloads: [{ uid: 'a' }] }),
      quit: () => quit++,
      logger,
    });
    servers.push(s);
    expect(await (await fetch(url(s, '/config_dump'))).json()).toEqual({ workloads: [{ uid: 'a' }] });
    expect((await fetch(url(s, '/logging'))).status).toBe(405);
    expect(await (await fetch(url(s, '/logging?level=debug'), { method: 'POST' })).text()).toBe(
      'current log level is debug\n',
    );
    expect(logger.level).toBe('debug');
    expect((await fetch(url(s, '/logging?level=loud'), { method: 'POST' })).status).toBe(400);
    expect((await fetch(url(s, '/quitquitquit'))).status).toBe(405);
    expect(await (await fetch(url(s, '/quitquitquit'), { method: 'POST' })).text()).toBe('shutdown now\n');
    await new Promise((r) => setImmediate(r));
    expect(quit).toBe(1);
    expect((await fetch(url(s, '/nope'))).status).toBe(404);
  });
});

describe('access log', () => {
  it('writes one JSON line per connection with ztunnel field names, error lines at error level', () => {
    const out = new PassThrough();
    const lines: string[] = [];
    out.on('data', (d: Buffer) => lines.push(...d.toString().trim().split('\n')));
    const log = new AccessLog(createLogger({ component: 'ztunnel', destination: out }));
    log.complete({
      direction: 'inbound',
      'src.addr': '10.244.1.2:4000',
      'src.identity': 'spiffe://cluster.local/ns/shop/sa/web',
      'dst.addr': '10.244.2.7:15008',
      'dst.hbone_addr': '10.244.2.7:9080',
      'dst.workload': 'reviews-v2',
      bytes_sent: 10,
      bytes_recv: 20,
      duration: '3ms',
    });
    log.complete({
      direction: 'inbound',
      'src.addr': 'a',
      'dst.addr': 'b',
      bytes_sent: 0,
      bytes_recv: 0,
      duration: '0ms',
      error: 'denied',
      response_flags: 'DENY',
    });
    const [ok, bad] = lines.map((l) => JSON.parse(l));
    expect(ok).toMatchObject({
      level: 'info',
      scope: 'access',
      message: 'connection complete',
      'src.identity': 'spiffe://cluster.local/ns/shop/sa/web',
      'dst.hbone_addr': '10.244.2.7:9080',
    });
    expect(bad).toMatchObject({ level: 'error', error: 'denied', response_flags: 'DENY' });
  });
});
