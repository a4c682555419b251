// The router over real sockets on loopback: HTTP/1.1 and HTTP/2 in, HTTP/1.1 and gRPC (HTTP/2)
// to real upstream servers; retries, timeouts, faults, direct responses and redirects with
// Envoy's statuses and flags (shared spec waypoint.md §1, §6).
import http from 'node:http';
import { grpcCalls, startGrpcEcho, startHttpEcho } from '@ambient/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRelay, Harness } from './harness.js';

async function get(port: number, path = '/', headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>(
    (resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
    },
  );
}

describe('waypoint router on loopback', () => {
  const h = new Harness();
  let front: { h1: number; h2: number };
  const closers: (() => Promise<void>)[] = [];
  beforeAll(async () => {
    const flaky = await startHttpEcho({ port: 0, host: '127.0.0.1', podName: 'flaky', failEvery: 2 });
    const ok = await startHttpEcho({ port: 0, host: '127.0.0.1', podName: 'ok' });
    const slow = await startHttpEcho({ port: 0, host: '127.0.0.1', podName: 'slow', delayMs: 1000 });
    const grpc = await startGrpcEcho({ port: 0, podName: 'grpc', failEvery: 2 });
    closers.push(flaky.close, ok.close, slow.close, grpc.close);
    h.cluster('flaky', [flaky.port]);
    h.cluster('ok', [ok.port]);
    h.cluster('slow', [slow.port]);
    h.cluster('grpc', [grpc.port]);
    h.routes(routes);
    front = await h.front();
  });
  const retry = { retryOn: '5xx,unavailable', numRetries: { value: 3 } };
  const routes = [
    {
      name: 'grpc',
      match: { prefix: '/testkit.Echo/' },
      route: { cluster: 'grpc', timeout: {}, retryPolicy: retry },
    },
    {
      name: 'flaky',
      match: { prefix: '/flaky' },
      route: { cluster: 'flaky', timeout: {}, retryPolicy: retry },
    },
    { name: 'flaky-no-retry', match: { prefix: '/raw' }, route: { cluster: 'flaky', timeout: {} } },
    { name: 'slow', match: { prefix: '/slow' }, route: { cluster: 'slow', timeout: { nanos: 200_000_000 } } },
    {
      name: 'direct',
      match: { path: '/teapot' },
      directResponse: { status: 418, body: { inlineString: 'short and stout' } },
    },
    { name: 'redirect', match: { prefix: '/old' }, redirect: { pathRedirect: '/new', responseCode: 1 } },
    { name: 'missing', match: { prefix: '/nowhere' }, route: { cluster: 'does-not-exist', timeout: {} } },
    { name: 'ok', match: { prefix: '/ok' }, route: { cluster: 'ok', timeout: {}, prefixRewrite: '/v2' } },
  ];
  afterAll(async () => {
    await h.close();
    for (const c of closers) await c();
  });

  it('forwards HTTP/1.1 and rewrites the prefix', async () => {
    const r = await get(front.h1, '/ok/books?x=1');
    expect(r.status).toBe(200);
    const body = JSON.parse(r.body);
    expect(body.path).toBe('/v2/books');
    expect(body.query).toEqual({ x: '1' });
    expect(body.headers['x-envoy-original-path']).toBe('/ok/books');
  });

  it('retries 5xx until an attempt succeeds; without a retry policy the 503 comes back', async () => {
    for (let i = 0; i < 6; i++) expect((await get(front.h1, '/flaky')).status).toBe(200);
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(front.h1, '/raw')).status);
    expect(statuses.filter((s) => s === 503).length).toBe(2);
  });

  it('times out with 504 and Envoy\u2019s body', async () => {
    const r = await get(front.h1, '/slow');
    expect(r.status).toBe(504);
    expect(r.body).toBe('upstream request timeout');
  });

  it('direct response, redirect, unknown cluster (503 NC), no route (404)', async () => {
    expect(await get(front.h1, '/teapot')).toMatchObject({ status: 418, body: 'short and stout' });
    const red = await get(front.h1, '/old?q=1', { host: 'svc:9080' });
    expect(red.status).toBe(302);
    expect(red.headers.location).toBe('http://svc:9080/new?q=1');
    expect((await get(front.h1, '/nowhere')).status).toBe(503);
    expect((await get(front.h1, '/unrouted')).status).toBe(404);
    const metrics = await h.registry.metrics();
    expect(metrics).toMatch(/istio_requests_total\{[^}]*response_code="503"[^}]*response_flags="NC"/);
    expect(metrics).toMatch(/istio_requests_total\{[^}]*response_code="404"[^}]*response_flags="NR"/);
  });

  it('a gRPC failure without retries reaches the client promptly (trailers-only response)', async () => {
    h.routes([
      { name: 'grpc', match: { prefix: '/testkit.Echo/' }, route: { cluster: 'grpc', timeout: {} } },
    ]);
    const started = Date.now();
    const r = await grpcCalls({ target: `127.0.0.1:${front.h2}`, count: 4, timeoutMs: 3000 });
    expect(r.codes).toEqual({ 0: 2, 14: 2 });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await h.registry.metrics()).toMatch(
      /istio_requests_total\{[^}]*request_protocol="grpc",response_code="200",grpc_response_status="14"/,
    );
    h.routes(routes);
  }, 20_000);

  it('through a CONNECT tunnel (as over HBONE): HTTP/1.1 keep-alive and gRPC trailers-only answers', async () => {
    const relay = await connectRelay();
    const t = new Harness();
    t.relay = relay.session;
    const grpc = await startGrpcEcho({ port: 0, podName: 'grpc', failEvery: 2 });
    const ok = await startHttpEcho({ port: 0, host: '127.0.0.1', podName: 'ok' });
    t.cluster('grpc', [grpc.port]);
    t.cluster('ok', [ok.port]);
    t.routes([
      { name: 'grpc', match: { prefix: '/testkit.Echo/' }, route: { cluster: 'grpc', timeout: {} } },
      { name: 'ok', match: { prefix: '/' }, route: { cluster: 'ok', timeout: {} } },
    ]);
    const f = await t.front();
    try {
      for (let i = 0; i < 5; i++) expect((await get(f.h1, '/x')).status).toBe(200);
      const started = Date.now();
      const r = await grpcCalls({ target: `127.0.0.1:${f.h2}`, count: 4, timeoutMs: 3000 });
      expect(r.codes).toEqual({ 0: 2, 14: 2 });
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      await t.close();
      relay.close();
      await grpc.close();
      await ok.close();
    }
  }, 20_000);

  it('gRPC over HTTP/2 in and out, retried on unavailable', async () => {
    const r = await grpcCalls({ target: `127.0.0.1:${front.h2}`, count: 10, timeoutMs: 3000 });
    expect(r.codes).toEqual({ 0: 10 });
  }, 20_000);
});
