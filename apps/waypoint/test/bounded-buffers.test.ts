// One client cannot make the waypoint hold unbounded memory (issue: no peer can take a proxy
// down): request bodies buffered for retries count against a per-proxy cap (503 past it, the
// bytes released when the response ends), and a client's HTTP/2 connection inside a tunnel may
// open at most 100 concurrent streams. Real sockets on loopback.
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

describe('waypoint: bounded request buffers', () => {
  let h: Harness;
  let port: number;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ h, port, close } = await echoHarness({ maxBufferedBytes: 96 * 1024 }));
  });
  afterAll(() => close());

  it('bodies held by unfinished uploads count against the cap: past it a request gets 503, and closing frees it', async () => {
    const a = await unfinishedUpload(port, 64 * 1024);
    await until('the first body is buffered', () => h.router.bufferedBytes === 64 * 1024);
    const b = await unfinishedUpload(port, 64 * 1024);
    await until('the second upload is refused', () => b.reply().startsWith('HTTP/1.1 503'));
    expect(b.reply()).toContain('request body buffers full');
    expect(h.router.bufferedBytes).toBe(64 * 1024);
    a.socket.destroy();
    b.socket.destroy();
    await until('the first upload released its bytes', () => h.router.bufferedBytes === 0);
    const c = await unfinishedUpload(port, 64 * 1024);
    await until('a new upload is buffered again', () => h.router.bufferedBytes === 64 * 1024);
    c.socket.destroy();
    await until('released', () => h.router.bufferedBytes === 0);
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
