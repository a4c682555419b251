// The test apps on loopback, for real: the echo answers what it received, failure and
// delay injection work, the TCP echo keeps half-close, the sink counts.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EchoAnswer, type RunningServer, startHttpEcho } from '../src/http-echo.js';
import { startTcpEcho, startTcpSink, tcpExchange } from '../src/tcp-servers.js';

describe('http echo', () => {
  let echo: RunningServer;
  let flaky: RunningServer;
  beforeAll(async () => {
    echo = await startHttpEcho({ port: 0, host: '127.0.0.1', podName: 'echo-1' });
    flaky = await startHttpEcho({
      port: 0,
      host: '127.0.0.1',
      podName: 'flaky',
      failRatio: 0.5,
      failStatus: 503,
    });
  });
  afterAll(async () => {
    await echo.close();
    await flaky.close();
  });

  it('answers with method, path, query, headers, source and pod name', async () => {
    const res = await fetch(`http://127.0.0.1:${echo.port}/api/items?x=1&y=two`, {
      method: 'POST',
      headers: { 'end-user': 'jason' },
      body: 'hello',
    });
    const answer = (await res.json()) as EchoAnswer;
    expect(res.status).toBe(200);
    expect(answer).toMatchObject({
      pod: 'echo-1',
      method: 'POST',
      path: '/api/items',
      query: { x: '1', y: 'two' },
      source: { address: '127.0.0.1' },
      destination: { address: '127.0.0.1', port: echo.port },
      bodyBytes: 5,
    });
    expect(answer.headers['end-user']).toBe('jason');
  });

  it('fails about the configured share of requests', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 400 }, () => fetch(`http://127.0.0.1:${flaky.port}/`).then((r) => r.status)),
    );
    const failed = statuses.filter((s) => s === 503).length;
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    // 400 draws at p=0.5: ±15 % is over 6 standard deviations.
    expect(failed / 400).toBeGreaterThan(0.35);
    expect(failed / 400).toBeLessThan(0.65);
  });

  it('obeys per-request status and delay headers', async () => {
    const t0 = performance.now();
    const res = await fetch(`http://127.0.0.1:${echo.port}/`, {
      headers: { 'x-echo-status': '418', 'x-echo-delay-ms': '200' },
    });
    expect(res.status).toBe(418);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
  });
});

describe('tcp echo and sink', () => {
  let echo: RunningServer;
  let sink: RunningServer;
  beforeAll(async () => {
    echo = await startTcpEcho(0, '127.0.0.1');
    sink = await startTcpSink(0, '127.0.0.1');
  });
  afterAll(async () => {
    await echo.close();
    await sink.close();
  });

  it('echoes every byte and answers after the client half-closes', async () => {
    const data = Buffer.alloc(3 * 1024 * 1024, 'abcdefgh');
    const reply = await tcpExchange({ host: '127.0.0.1', port: echo.port, data });
    expect(reply.equals(data)).toBe(true);
  });

  it('keeps its direction open after the client FIN, then closes', async () => {
    const sock = net.connect({ host: '127.0.0.1', port: echo.port, allowHalfOpen: true });
    await new Promise((r) => sock.once('connect', r));
    sock.end('late');
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    await new Promise((r) => sock.once('end', r));
    expect(Buffer.concat(chunks).toString()).toBe('late');
    sock.destroy();
  });

  it('sink reports the byte count and the sender', async () => {
    const reply = await tcpExchange({ host: '127.0.0.1', port: sink.port, data: Buffer.alloc(100_000) });
    const report = JSON.parse(reply.toString());
    expect(report).toMatchObject({ bytes: 100_000, source: '127.0.0.1' });
  });
});
