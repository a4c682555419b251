// One client cannot make the waypoint hold unbounded memory (issue: no peer can take a proxy
// down): request bodies stream to the upstream, a copy is kept for retries only up to the
// per-request limit and within a proxy-wide cap (released when the response ends; past either,
// the body streams on and is not retried — Envoy's rule), and a client's HTTP/2 connection
// inside a tunnel may open at most 100 concurrent streams. Real sockets on loopback.
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { H2_MAX_CONCURRENT_STREAMS, HttpFront } from '../src/downstream.js';
import { echoHarness, Harness } from './harness.js';

/** Sends headers and `bytes` of a body that promises more; resolves with the socket. */
async function unfinishedUpload(
  port: number,
  bytes: number,
): Promise<{ socket: net.Socket; reply: () => string }> {
  const socket = net.connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (c) => {
    text += c.toString();
  });
  socket.on('error', () => {});
  await new Promise((r) => socket.once('connect', r));
  socket.write(`POST /upload HTTP/1.1\r\nHost: svc\r\nContent-Length: ${bytes * 4}\r\n\r\n`);
  socket.write(Buffer.alloc(bytes, 'x'));
  return { socket, reply: () => text };
}

const until = async (what: string, ok: () => boolean) => {
  const deadline = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

describe('waypoint: request bodies stream; only what a retry needs is kept', () => {
  let h: Harness;
  let port: number;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ h, port, close } = await echoHarness({ maxBufferedBytes: 96 * 1024, maxRequestBytes: 256 * 1024 }));
  });
  afterAll(() => close());

  it('kept bodies count against the proxy-wide cap; past it a body streams on, unkept, and arrives whole', async () => {
    const a = await unfinishedUpload(port, 64 * 1024);
    await until('the first body is kept', () => h.router.bufferedBytes === 64 * 1024);
    const b = await unfinishedUpload(port, 64 * 1024);
    await new Promise((r) => setTimeout(r, 200));
    expect(h.router.bufferedBytes).toBeLessThanOrEqual(96 * 1024);
    // The rest of b's body: it reaches the app whole although it was not kept.
    b.socket.write(Buffer.alloc(3 * 64 * 1024, 'y'));
    await until('b is answered', () => b.reply().includes('"bodyBytes"'));
    expect(b.reply()).toMatch(/^HTTP\/1\.1 200/);
    expect(b.reply()).toContain(`"bodyBytes":${4 * 64 * 1024}`);
    a.socket.destroy();
    b.socket.destroy();
    await until('everything released', () => h.router.bufferedBytes === 0);
  });

  it('a body larger than the retry buffer streams through (was: 413 over 4 MiB)', async () => {
    const big = await unfinishedUpload(port, 512 * 1024);
    big.socket.write(Buffer.alloc(3 * 512 * 1024, 'z'));
    await until('answered', () => big.reply().includes('"bodyBytes"'));
    expect(big.reply()).toContain(`"bodyBytes":${2 * 1024 * 1024}`);
    expect(h.router.bufferedBytes).toBeLessThanOrEqual(96 * 1024);
    big.socket.destroy();
  });
});

describe('waypoint: retries replay a kept body, and stop past the limit', () => {
  let h: Harness;
  let port: number;
  let upstream: http.Server;
  const seen: number[] = [];
  beforeAll(async () => {
    // An upstream that always fails, and records the body size of every attempt.
    upstream = http.createServer((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
      });
      req.on('end', () => {
        seen.push(n);
        res.writeHead(503).end('no');
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    h = new Harness({ maxRequestBytes: 64 * 1024 });
    h.cluster('bad', [(upstream.address() as net.AddressInfo).port]);
    h.routes([
      {
        name: 'retry',
        match: { prefix: '/' },
        route: { cluster: 'bad', timeout: {}, retryPolicy: { retryOn: '5xx', numRetries: { value: 2 } } },
      },
    ]);
    port = (await h.front()).h1;
  });
  afterAll(async () => {
    await h.close();
    upstream.close();
  });

  const post = (bytes: number) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/x', agent: false },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end(Buffer.alloc(bytes, 'b'));
    });

  it('a body within the limit is sent whole on every attempt', async () => {
    seen.length = 0;
    expect(await post(10_000)).toBe(503);
    expect(seen).toEqual([10_000, 10_000, 10_000]);
  });

  it('a body past the limit is sent once: no retry could send it again', async () => {
    seen.length = 0;
    expect(await post(300_000)).toBe(503);
    expect(seen).toEqual([300_000]);
  });
});

describe('waypoint: HTTP/2 inside a tunnel', () => {
  const h = new Harness();
  let server: net.Server;
  beforeAll(async () => {
    const front = new HttpFront(h.router);
    server = net.createServer((s) => front.serve(s, h.ds));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  });
  afterAll(async () => {
    await h.close();
    server.close();
  });

  it(`advertises at most ${H2_MAX_CONCURRENT_STREAMS} concurrent streams`, async () => {
    const port = (server.address() as net.AddressInfo).port;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      const settings = await new Promise<http2.Settings>((r) => session.once('remoteSettings', r));
      expect(settings.maxConcurrentStreams).toBe(100);
    } finally {
      session.destroy();
    }
  });
});
