// HBONE for real on loopback: our pool against our server, TLS 1.3 + HTTP/2 CONNECT.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { clientTlsOptions, serverTlsOptions, type WorkloadCertificate } from '@ambient/mtls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  formatAuthority,
  type HboneDecision,
  HboneError,
  HbonePool,
  type HboneRequest,
  HboneServer,
  newTraceparent,
  type PoolKey,
  parseAuthority,
} from '../src/index.js';
import { sleep, testPki } from './helpers.js';

const SERVER = 'spiffe://cluster.local/ns/shop/sa/server';
const CLIENT = 'spiffe://cluster.local/ns/shop/sa/client';
let serverCert: WorkloadCertificate;
let clientCert: WorkloadCertificate;
let issue: (id: string) => WorkloadCertificate;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

beforeAll(async () => {
  const pki = await testPki();
  issue = pki.issue;
  serverCert = issue(SERVER);
  clientCert = issue(CLIENT);
});

/** A TCP echo upstream (half-close aware). */
async function echoUpstream(): Promise<number> {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {}); // some tests reset on purpose
    s.pipe(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(() => srv.close());
  return (srv.address() as net.AddressInfo).port;
}

async function startServer(decide?: (req: HboneRequest) => HboneDecision | Promise<HboneDecision>) {
  const seen: HboneRequest[] = [];
  const ended: { bytesIn: number; bytesOut: number }[] = [];
  const server = new HboneServer({
    tls: serverTlsOptions(serverCert),
    trustDomain: 'cluster.local',
    handler: async (req) => {
      seen.push(req);
      if (decide) return decide(req);
      const upstream = net.connect({
        host: req.authority.host,
        port: req.authority.port,
        allowHalfOpen: true,
      });
      await new Promise<void>((res, rej) => {
        upstream.once('connect', res);
        upstream.once('error', rej);
      });
      return { status: 200, upstream };
    },
    onTunnelEnd: (_r, result) => ended.push(result),
  });
  const addr = await server.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => server.drain(100));
  return { server, port: addr.port, seen, ended };
}

function pool(extra: Partial<ConstructorParameters<typeof HbonePool>[0]> = {}) {
  const p = new HbonePool({ tlsFor: (k) => clientTlsOptions(clientCert, k.dstIdentities), ...extra });
  cleanups.push(() => p.destroy());
  return p;
}

const key = (port: number, extra: Partial<PoolKey> = {}): PoolKey => ({
  srcIdentity: CLIENT,
  dstIdentities: [SERVER],
  dstIp: '127.0.0.1',
  dstPort: port,
  ...extra,
});

function exchange(stream: Duplex, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve(Buffer.concat(chunks)));
    stream.once('error', reject);
    stream.end(data);
  });
}

describe('HBONE', () => {
  it('tunnels a byte stream both ways with half-close, and the server sees the CONNECT shape', async () => {
    const app = await echoUpstream();
    const { port, seen, ended } = await startServer();
    const p = pool();
    const data = Buffer.alloc(5 * 1024 * 1024 + 17, 'hbone!');
    const stream = await p.connect(key(port), {
      authority: formatAuthority('127.0.0.1', app),
      headers: {
        baggage: 'k8s.namespace.name=shop',
        forwarded: 'for="127.0.0.1:5000"',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
      },
    });
    const back = await exchange(stream, data);
    expect(back.equals(data)).toBe(true);
    const req = seen[0]!;
    expect(req.headers[':method']).toBe('CONNECT');
    expect(req.rawAuthority).toBe(`127.0.0.1:${app}`);
    expect(req.headers[':scheme']).toBeUndefined();
    expect(req.headers[':path']).toBeUndefined();
    expect(req.headers.baggage).toBe('k8s.namespace.name=shop');
    expect(req.peerIdentity.toString()).toBe(CLIENT);
    await sleep(50);
    expect(ended[0]).toMatchObject({ bytesIn: data.length, bytesOut: data.length });
  });

  it.each([400, 401, 503] as const)(
    'passes a headers-only %i refusal to the client as an HboneError with that status',
    async (status) => {
      const { port } = await startServer(() => ({ status, reason: 'test' }));
      const err = await pool()
        .connect(key(port), { authority: '127.0.0.1:1' })
        .catch((e: HboneError) => e);
      expect(err).toBeInstanceOf(HboneError);
      expect((err as HboneError).status).toBe(status);
    },
  );

  it('answers 400 to a malformed authority without asking the handler', async () => {
    const { port, seen } = await startServer();
    const err = await pool()
      .connect(key(port), { authority: 'no-port-here' })
      .catch((e: HboneError) => e);
    expect((err as HboneError).status).toBe(400);
    expect(seen).toHaveLength(0);
  });

  it('shares one session per key, opens another past the stream limit, and one connect for concurrent first requests', async () => {
    const app = await echoUpstream();
    const { port } = await startServer();
    const p = pool({ maxStreamsPerConnection: 3 });
    const streams = await Promise.all(
      Array.from({ length: 5 }, () => p.connect(key(port), { authority: `127.0.0.1:${app}` })),
    );
    expect(p.stats()).toMatchObject({ keys: 1, sessions: 2, streams: 5, sessionsOpened: 2 });
    // Another source IP is another key.
    const other = await p.connect(key(port, { srcIp: '127.0.0.9' }), { authority: `127.0.0.1:${app}` });
    expect(p.stats()).toMatchObject({ keys: 2, sessions: 3 });
    for (const s of [...streams, other]) s.destroy();
  });

  it('releases idle sessions after the idle timeout', async () => {
    const app = await echoUpstream();
    const { port, server } = await startServer();
    const p = pool({ idleTimeoutMs: 100 });
    const s = await p.connect(key(port), { authority: `127.0.0.1:${app}` });
    await exchange(s, Buffer.from('x'));
    await sleep(300);
    expect(p.stats().sessions).toBe(0);
    await sleep(50);
    expect(server.openSessions).toBe(0);
  });

  it('rejects a server that is not the expected identity', async () => {
    const { port } = await startServer();
    const err = await pool()
      .connect(key(port, { dstIdentities: ['spiffe://cluster.local/ns/shop/sa/someone-else'] }), {
        authority: '127.0.0.1:1',
      })
      .catch((e: Error) => e);
    expect((err as HboneError).code).toBe('DIAL');
    expect((err as Error).message).toMatch(/not one of the expected/);
  });

  it('closes connections from another trust domain before any stream', async () => {
    const { port, seen } = await startServer();
    const evil = issue('spiffe://evil.local/ns/shop/sa/client');
    const p = new HbonePool({ tlsFor: (k) => clientTlsOptions(evil, k.dstIdentities) });
    cleanups.push(() => p.destroy());
    await expect(p.connect(key(port), { authority: '127.0.0.1:1' })).rejects.toThrow();
    expect(seen).toHaveLength(0);
  });

  it('drains: GOAWAY, an open stream finishes inside the deadline, new connections are refused', async () => {
    const app = await echoUpstream();
    const { port, server } = await startServer();
    const p = pool();
    const s = await p.connect(key(port), { authority: `127.0.0.1:${app}` });
    const drained = server.drain(2000);
    await sleep(50);
    // The open stream still works during the drain.
    const back = await exchange(s, Buffer.from('still here'));
    expect(back.toString()).toBe('still here');
    await drained;
    await expect(pool().connect(key(port), { authority: `127.0.0.1:${app}` })).rejects.toThrow();
  });

  it('force-closes streams still open at the drain deadline', async () => {
    const app = await echoUpstream();
    const { port, server } = await startServer();
    const s = await pool().connect(key(port), { authority: `127.0.0.1:${app}` });
    const closed = new Promise((r) => s.once('close', r));
    const t0 = Date.now();
    await server.drain(200);
    await closed;
    expect(Date.now() - t0).toBeLessThan(1500);
  });
});

describe('newTraceparent', () => {
  it('is W3C traceparent, with ids that do not repeat across refills of its entropy', () => {
    const ids = Array.from({ length: 1000 }, () => newTraceparent()); // ~6 refills of 4 KiB
    for (const id of ids) expect(id).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(new Set(ids.map((id) => id.slice(3, 35))).size).toBe(ids.length);
    expect(new Set(ids.map((id) => id.slice(36, 52))).size).toBe(ids.length);
  });
});

describe('parseAuthority', () => {
  it.each([
    ['10.244.1.2:8080', { host: '10.244.1.2', port: 8080, isIp: true }],
    ['[fd00::1]:443', { host: 'fd00::1', port: 443, isIp: true }],
    [
      'reviews.shop.svc.cluster.local:9080',
      { host: 'reviews.shop.svc.cluster.local', port: 9080, isIp: false },
    ],
  ])('%s', (a, expected) => {
    expect(parseAuthority(a)).toEqual(expected);
  });
  it.each(['10.0.0.1', '10.0.0.1:0', '10.0.0.1:70000', 'fd00::1:80', '', 'a b:80'])('rejects %j', (a) => {
    expect(parseAuthority(a)).toBeUndefined();
  });
  it('brackets IPv6 in formatAuthority', () => {
    expect(formatAuthority('fd00::1', 15008)).toBe('[fd00::1]:15008');
  });
});

describe('aborts', () => {
  it('an upstream reset reaches the client as a reset, never as a clean end of stream', async () => {
    const app = await echoUpstream();
    let upstream: net.Socket | undefined;
    const { port } = await startServer(async (req) => {
      upstream = net.connect({ host: req.authority.host, port: req.authority.port, allowHalfOpen: true });
      await new Promise((r) => upstream!.once('connect', r));
      return { status: 200, upstream };
    });
    const s = await pool().connect(key(port), { authority: `127.0.0.1:${app}` });
    const events: string[] = [];
    for (const e of ['end', 'error', 'close']) s.on(e, () => events.push(e));
    s.write('x');
    await sleep(50);
    upstream!.resetAndDestroy();
    await new Promise((r) => s.once('close', r));
    expect(events).not.toContain('end');
    expect(events).toContain('error');
  });
});
