// A single peer cannot make the HBONE server do unbounded work (issue: no peer can take a
// proxy down): idle handshakes are dropped, handshakes in flight are capped, and a session
// that opens CONNECT streams only to reset them (rapid reset) is ended with GOAWAY before it
// costs more than the limit. Real TLS and HTTP/2 on loopback.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { clientTlsOptions, serverTlsOptions, type WorkloadCertificate } from '@ambient/mtls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HBONE_SERVER_LIMITS, HboneServer, type HboneServerLimits } from '../src/index.js';
import { sleep, testPki } from './helpers.js';

const SERVER = 'spiffe://cluster.local/ns/shop/sa/server';
let serverCert: WorkloadCertificate;
let clientCert: WorkloadCertificate;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
beforeAll(async () => {
  const pki = await testPki();
  serverCert = pki.issue(SERVER);
  clientCert = pki.issue('spiffe://cluster.local/ns/shop/sa/client');
});

async function start(limits: Partial<HboneServerLimits>) {
  let dials = 0;
  let handled = 0;
  const server = new HboneServer({
    tls: serverTlsOptions(serverCert),
    trustDomain: 'cluster.local',
    limits,
    // Like ztunnel's inbound: asynchronous work first (state, policy), then the dial — unless
    // the peer reset the stream meanwhile.
    handler: async (req) => {
      handled++;
      await new Promise((r) => setImmediate(r));
      if (req.signal.aborted) return { status: 503, reason: 'reset' };
      dials++;
      return { status: 503, reason: 'no upstream in this test' };
    },
  });
  const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(() => server.drain(100));
  return { server, port, counts: () => ({ dials, handled }) };
}

function rawConnect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
    cleanups.push(() => s.destroy());
  });
}

const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

describe('HBONE server under abuse', () => {
  it('a connection that never completes its TLS handshake is dropped after the handshake timeout', async () => {
    const { server, port } = await start({ handshakeTimeoutMs: 300 });
    const s = await rawConnect(port);
    s.on('error', () => {});
    const t = performance.now();
    await closed(s);
    expect(performance.now() - t).toBeLessThan(2000);
    expect(server.refused.handshakeTimeout).toBe(1);
    expect(HBONE_SERVER_LIMITS.handshakeTimeoutMs).toBe(10_000);
  });

  it('handshakes in flight are capped: past the cap a connection is closed on arrival', async () => {
    const { server, port } = await start({ maxPendingHandshakes: 5 });
    const idle = await Promise.all(Array.from({ length: 5 }, () => rawConnect(port)));
    for (const s of idle) s.on('error', () => {});
    await sleep(50);
    expect(server.handshakesInFlight).toBe(5);
    const extra = await rawConnect(port);
    extra.on('error', () => {});
    await closed(extra);
    expect(server.refused.tooManyHandshakes).toBe(1);
    // A completed handshake frees its place.
    for (const s of idle) s.destroy();
    await sleep(50);
    expect(server.handshakesInFlight).toBe(0);
  });

  it('rapid reset: a session that resets most of its streams is ended with GOAWAY, and reset streams are never dialled', async () => {
    const { server, port, counts } = await start({ prematureResetStreams: 100 });
    const socket = tls.connect({ ...clientTlsOptions(clientCert, [SERVER]), host: '127.0.0.1', port });
    const session = http2.connect(`https://127.0.0.1:${port}`, { createConnection: () => socket });
    cleanups.push(() => session.destroy());
    session.on('error', () => {});
    const goaway = new Promise<number | 'closed'>((r) => {
      session.once('goaway', (code) => r(code));
      session.once('close', () => r('closed'));
    });
    await new Promise<void>((r) => session.once('connect', () => r()));
    let opened = 0;
    let away = false;
    void goaway.then(() => {
      away = true;
    });
    for (; opened < 1000 && !away && !session.closed && !session.destroyed; opened++) {
      try {
        const s = session.request({ ':method': 'CONNECT', ':authority': '127.0.0.1:9' });
        s.on('error', () => {});
        s.close(http2.constants.NGHTTP2_CANCEL);
      } catch {
        break;
      }
      if (opened % 20 === 0) await sleep(1);
    }
    expect(await goaway).toBe(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
    expect(server.refused.prematureResets).toBe(1);
    // The session ended near the limit, not after all 1,000; a stream reset before its decision
    // is not dialled (a few resets arrive after the decision: those are dialled and then closed).
    const { handled, dials } = counts();
    expect(handled).toBeLessThan(400);
    expect(handled).toBeGreaterThanOrEqual(100);
    expect(dials * 4).toBeLessThan(handled);
  });
});

describe('HBONE noisy neighbour', () => {
  it('a victim opening tunnels at a fixed rate loses none and keeps p99 low while a neighbour floods', async () => {
    const { port: upstreamPort, close } = await (async () => {
      const srv = net.createServer((s) => {
        s.on('error', () => {});
        s.pipe(s);
      });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
      return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
    })();
    cleanups.push(close);
    const { forwardedFor } = await import('../src/index.js');
    const server = new HboneServer({
      tls: serverTlsOptions(serverCert),
      trustDomain: 'cluster.local',
      limits: { prematureResetStreams: 100, handshakeTimeoutMs: 1000 },
      // As the waypoint does: read the peer's `forwarded` header, then dial.
      handler: async (req) => {
        forwardedFor(String(req.headers.forwarded ?? ''));
        await new Promise((r) => setImmediate(r));
        if (req.signal.aborted) return { status: 503, reason: 'reset' };
        const upstream = net.connect(upstreamPort, '127.0.0.1');
        await new Promise((r, j) => upstream.once('connect', r).once('error', j));
        return { status: 200, upstream };
      },
    });
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => server.drain(100));

    const connect = () => {
      const socket = tls.connect({ ...clientTlsOptions(clientCert, [SERVER]), host: '127.0.0.1', port });
      const session = http2.connect(`https://127.0.0.1:${port}`, { createConnection: () => socket });
      session.on('error', () => {});
      cleanups.push(() => session.destroy());
      return session;
    };
    // The neighbour runs in its own process (flood-peer.mjs), as it would on its own machine.
    const { spawn } = await import('node:child_process');
    const peer = spawn(process.execPath, [fileURLToPath(new URL('./flood-peer.mjs', import.meta.url))], {
      env: {
        ...process.env,
        PORT: String(port),
        UPSTREAM: String(upstreamPort),
        CERT: clientCert.certPem + clientCert.chainPems.join(''),
        KEY: clientCert.privateKeyPem,
        CA: clientCert.rootPem,
        FLOOD_MS: '3000',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    cleanups.push(() => peer.kill());
    let peerOut = '';
    peer.stdout.on('data', (c) => {
      peerOut += c;
    });
    const flood = new Promise<number>((resolve) => peer.once('exit', () => resolve(Number(peerOut))));
    await sleep(200); // the flood is on before the victim starts
    const victim = connect();
    const latencies: number[] = [];
    let failed = 0;
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 100; i++) {
      const t = performance.now();
      pending.push(
        new Promise<void>((resolve) => {
          const st = victim.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${upstreamPort}` });
          st.on('error', () => {
            failed++;
            resolve();
          });
          st.once('response', (h) => {
            if (h[':status'] !== 200) failed++;
            st.write('ping');
            st.once('data', () => {
              latencies.push(performance.now() - t);
              st.close();
              resolve();
            });
          });
        }),
      );
      await sleep(20);
    }
    await Promise.all(pending);
    const abusive = await flood;
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)] ?? Number.POSITIVE_INFINITY;
    console.log(
      `HBONE noisy neighbour: 100 victim tunnels, ${failed} failed, p99 ${p99.toFixed(1)} ms; ${abusive} reset CONNECTs with 4 KiB forwarded headers, ${server.refused.prematureResets} GOAWAYs, ${server.refused.handshakeTimeout} idle handshakes dropped`,
    );
    expect(failed).toBe(0);
    expect(p99).toBeLessThan(500);
    expect(server.refused.prematureResets).toBeGreaterThan(0);
  }, 30_000);
});
