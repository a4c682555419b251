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

  it('consistent hash on a header: the same user always lands on the same endpoint', async () => {
    const t = new Harness();
    const servers = await Promise.all(
      ['a', 'b', 'c'].map((n) => startHttpEcho({ port: 0, host: '127.0.0.1', podName: n })),
    );
    t.cluster(
      'hash',
      servers.map((x) => x.port),
      { lbPolicy: 2 },
    );
    t.routes([
      {
        name: 'h',
        match: { prefix: '/' },
        route: { cluster: 'hash', timeout: {}, hashPolicy: [{ header: { headerName: 'x-user' } }] },
      },
    ]);
    const f = await t.front();
    try {
      const podsFor = async (user: string) => {
        const seen = new Set<string>();
        for (let i = 0; i < 10; i++)
          seen.add(JSON.parse((await get(f.h1, '/', { 'x-user': user })).body).pod);
        return seen;
      };
      const all = new Set<string>();
      for (const user of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']) {
        const seen = await podsFor(user);
        expect(seen.size, user).toBe(1);
        all.add([...seen][0]!);
      }
      expect(all.size).toBeGreaterThan(1); // users spread over the ring
    } finally {
      await t.close();
      for (const x of servers) await x.close();
    }
  });

  it('header operations, mirrors, and no healthy upstream (503 UH)', async () => {
    const t = new Harness();
    const main = await startHttpEcho({ port: 0, host: '127.0.0.1', podName: 'main' });
    let mirrored = 0;
    const mirror = http.createServer((req, res) => {
      mirrored++;
      res.end('ignored');
    });
    await new Promise<void>((r) => mirror.listen(0, '127.0.0.1', () => r()));
    t.cluster('main', [main.port]);
    t.cluster('mirror', [(mirror.address() as import('node:net').AddressInfo).port]);
    t.cluster('empty', []);
    t.routes([
      { name: 'none', match: { prefix: '/none' }, route: { cluster: 'empty', timeout: {} } },
      {
        name: 'ops',
        match: { prefix: '/' },
        requestHeadersToAdd: [{ header: { key: 'x-added', value: 'yes' }, appendAction: 2 }],
        requestHeadersToRemove: ['x-secret'],
        responseHeadersToAdd: [{ header: { key: 'x-served-by', value: 'waypoint' }, appendAction: 2 }],
        route: { cluster: 'main', timeout: {}, requestMirrorPolicies: [{ cluster: 'mirror' }] },
      },
    ]);
    const f = await t.front();
    try {
      const r = await get(f.h1, '/x', { 'x-secret': 's3cr3t' });
      const seen = JSON.parse(r.body).headers;
      expect(seen['x-added']).toBe('yes');
      expect(seen['x-secret']).toBeUndefined();
      expect(r.headers['x-served-by']).toBe('waypoint');
      await new Promise((res) => setTimeout(res, 200));
      expect(mirrored).toBe(1);
      const none = await get(f.h1, '/none');
      expect(none).toMatchObject({ status: 503, body: 'no healthy upstream' });
      expect(await t.registry.metrics()).toMatch(
        /istio_requests_total\{[^}]*response_code="503"[^}]*response_flags="UH"/,
      );
    } finally {
      await t.close();
      await main.close();
      mirror.close();
    }
  });

  it('CORS: an allowed preflight is answered locally, others are forwarded; allowed origins get the headers', async () => {
    const t = new Harness();
    const app = await startHttpEcho({ port: 0, host: '127.0.0.1', podName: 'app' });
    t.cluster('app', [app.port]);
    t.routes([
      {
        name: 'cors',
        match: { prefix: '/' },
        route: {
          cluster: 'app',
          timeout: {},
          cors: {
            allowOriginStringMatch: [{ exact: 'https://example.com' }, { suffix: '.example.org' }],
            allowMethods: 'POST,GET',
            allowHeaders: 'X-Foo-Bar',
            exposeHeaders: 'X-Request-Id',
            maxAge: '86400',
          },
        },
      },
    ]);
    const f = await t.front();
    const request = (method: string, headers: Record<string, string>) =>
      new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port: f.h1, path: '/x', method, headers, agent: false },
          (res) => {
            let body = '';
            res.on('data', (c) => (body += c));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      const pre = await request('OPTIONS', {
        origin: 'https://api.example.org',
        'access-control-request-method': 'POST',
      });
      expect(pre.status).toBe(200);
      expect(pre.body).toBe(''); // answered by the waypoint, not the app
      expect(pre.headers).toMatchObject({
        'access-control-allow-origin': 'https://api.example.org',
        'access-control-allow-methods': 'POST,GET',
        'access-control-allow-headers': 'X-Foo-Bar',
        'access-control-max-age': '86400',
      });
      const denied = await request('OPTIONS', {
        origin: 'https://evil.test',
        'access-control-request-method': 'POST',
      });
      expect(JSON.parse(denied.body).method).toBe('OPTIONS'); // forwarded to the app
      expect(denied.headers['access-control-allow-origin']).toBeUndefined();
      const actual = await request('GET', { origin: 'https://example.com' });
      expect(actual.headers['access-control-allow-origin']).toBe('https://example.com');
      expect(actual.headers['access-control-expose-headers']).toBe('X-Request-Id');
      expect((await request('GET', {})).headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await t.close();
      await app.close();
    }
  });

  it('a per-try timeout is retried only when retryOn has 5xx, gateway-error or reset', async () => {
    const t = new Harness();
    const slow = await startHttpEcho({ port: 0, host: '127.0.0.1', podName: 'slow', delayMs: 1000 });
    t.cluster('slow', [slow.port]);
    const perTry = (retryOn: string) => ({
      retryOn,
      numRetries: { value: 1 },
      perTryTimeout: { nanos: 200_000_000 },
    });
    t.routes([
      {
        name: 'retried',
        match: { prefix: '/5xx' },
        route: { cluster: 'slow', timeout: {}, retryPolicy: perTry('5xx') },
      },
      {
        name: 'not',
        match: { prefix: '/cf' },
        route: { cluster: 'slow', timeout: {}, retryPolicy: perTry('connect-failure') },
      },
    ]);
    const f = await t.front();
    const timed = async (path: string) => {
      const t0 = Date.now();
      const r = await get(f.h1, path);
      return { status: r.status, ms: Date.now() - t0 };
    };
    try {
      const retried = await timed('/5xx');
      expect(retried.status).toBe(504);
      expect(retried.ms).toBeGreaterThanOrEqual(400); // two tries of 200 ms
      const once = await timed('/cf');
      expect(once.status).toBe(504);
      expect(once.ms).toBeLessThan(400);
    } finally {
      await t.close();
      await slow.close();
    }
  });
});
