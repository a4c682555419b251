// Attacks on the waypoint's HTTP path, over real sockets on loopback (the router behind real
// HTTP/1.1 servers, a real echo backend that reports the exact request target and headers it
// got). Each case was reproduced against the tree before the fix:
//   - path encodings passed a DENY on /admin and reached /admin on a decoding backend;
//   - client-written x-envoy-*, x-forwarded-client-cert, x-forwarded-proto and JWT output
//     headers went upstream as-is;
//   - remoteIpBlocks took the leftmost X-Forwarded-For entry, which the client writes.
import net from 'node:net';
import { type ambient, type Init, structFromPlain } from '@ambient/proto';
import type { EchoAnswer } from '@ambient/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoHarness, type Harness, HOST } from './harness.js';

/** One request over a raw socket, so the request target is sent byte for byte. */
async function raw(
  port: number,
  target: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; echo?: EchoAnswer; body: string }> {
  const sock = net.connect(port, '127.0.0.1');
  const lines = [`GET ${target} HTTP/1.1`, 'Host: svc', 'Connection: close'];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  sock.write(`${lines.join('\r\n')}\r\n\r\n`);
  const chunks: Buffer[] = [];
  for await (const c of sock) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
  const head = text.indexOf('\r\n\r\n');
  let body = text.slice(head + 4);
  if (/transfer-encoding: chunked/i.test(text.slice(0, head))) {
    // De-chunk (the echo answers chunked when it streams).
    let out = '';
    let rest = body;
    for (;;) {
      const nl = rest.indexOf('\r\n');
      const size = Number.parseInt(rest.slice(0, nl), 16);
      if (!size) break;
      out += rest.slice(nl + 2, nl + 2 + size);
      rest = rest.slice(nl + 2 + size + 2);
    }
    body = out;
  }
  let echo: EchoAnswer | undefined;
  try {
    echo = JSON.parse(body) as EchoAnswer;
  } catch {}
  return { status, body, ...(echo ? { echo } : {}) };
}

function policy(
  kind: 'AuthorizationPolicy' | 'RequestAuthentication',
  name: string,
  spec: Record<string, unknown>,
): Init<ambient.security.v1.WaypointPolicy> {
  return { kind, namespace: 'test', name, targets: [`Service/test/${HOST}`], spec: structFromPlain(spec) };
}

describe('waypoint: one normalised path for routing, authorization and the backend', () => {
  let h: Harness;
  let port: number;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ h, port, close } = await echoHarness());
  });
  afterAll(() => close());

  const denyAdmin = policy('AuthorizationPolicy', 'deny-admin', {
    action: 'DENY',
    rules: [{ to: [{ operation: { paths: ['/admin', '/admin/*'] } }] }],
  });

  it.each([
    ['/admin', 'the plain path'],
    ['/public/%2e%2e/admin', 'encoded dot segments'],
    ['/public/.%2E/admin/x', 'mixed literal and encoded dots'],
    ['/%61dmin', 'an encoded unreserved letter'],
    ['/admin#x', 'a fragment'],
    ['/public/..\\admin', 'a backslash'],
    ['/./admin/', 'a dot segment'],
  ])('DENY /admin, /admin/*: %s (%s) is denied', async (target) => {
    h.state.upsertPolicy('deny', denyAdmin as never);
    expect((await raw(port, target)).status).toBe(403);
  });

  it('what is allowed goes upstream normalised: the backend sees the path the policy saw', async () => {
    h.state.upsertPolicy('deny', denyAdmin as never);
    const r = await raw(port, '/public/%2e%2e/public/%7Ex?q=%2e%2e#frag');
    expect(r.status).toBe(200);
    expect(r.echo?.target).toBe('/public/~x?q=%2e%2e');
  });

  it('ALLOW /public/*: an encoded escape from /public is refused; a request for %00 is 400', async () => {
    h.state.removePolicy('deny');
    h.state.upsertPolicy(
      'allow',
      policy('AuthorizationPolicy', 'allow-public', {
        rules: [{ to: [{ operation: { paths: ['/public/*'] } }] }],
      }) as never,
    );
    expect((await raw(port, '/public/%2e%2e/admin')).status).toBe(403);
    expect((await raw(port, '/public/%61')).echo?.target).toBe('/public/a');
    expect((await raw(port, '/public/a%00')).status).toBe(400);
    h.state.removePolicy('allow');
  });
});

describe('waypoint: headers the mesh writes are never taken from the client', () => {
  let h: Harness;
  let port: number;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ h, port, close } = await echoHarness());
    h.state.upsertPolicy(
      'jwt',
      policy('RequestAuthentication', 'jwt', {
        jwtRules: [
          {
            issuer: 'iss',
            jwks: '{"keys":[]}',
            outputPayloadToHeader: 'x-jwt-payload',
            outputClaimToHeaders: [{ header: 'x-jwt-role', claim: 'role' }],
          },
        ],
      }) as never,
    );
  });
  afterAll(() => close());

  // [header, what the client sends, what the backend must receive (undefined: nothing)]
  const table: [string, string, string | undefined][] = [
    ['x-jwt-role', 'superuser', undefined],
    ['x-jwt-payload', 'eyJyb2xlIjoic3VwZXJ1c2VyIn0', undefined],
    ['x-envoy-retry-on', '5xx', undefined],
    ['x-envoy-original-path', '/admin', undefined],
    ['x-envoy-internal', 'true', undefined],
    ['x-envoy-expected-rq-timeout-ms', '1', undefined],
    [
      'x-forwarded-client-cert',
      'By=spiffe://evil;URI=spiffe://cluster.local/ns/x/sa/admin',
      'By=spiffe://cluster.local/ns/test/sa/waypoint;URI=spiffe://cluster.local/ns/test/sa/client',
    ],
    ['x-forwarded-proto', 'https', 'http'],
    ['x-forwarded-for', '10.9.9.9', '10.9.9.9,127.0.0.1'],
    ['x-request-id', 'client-id-1', 'client-id-1'],
  ];
  it.each(table)('%s: %s → %s', async (name, sent, expected) => {
    const r = await raw(port, '/', { [name]: sent });
    expect(r.status).toBe(200);
    expect(r.echo?.headers[name]).toBe(expected);
  });
});

describe('waypoint: remote.ip is counted from the right of X-Forwarded-For', () => {
  const allowRemote = policy('AuthorizationPolicy', 'allow-remote', {
    rules: [{ from: [{ source: { remoteIpBlocks: ['203.0.113.7/32'] } }] }],
  });
  async function setup(trustedHops: number) {
    const s = await echoHarness({ trustedHops });
    s.h.state.upsertPolicy('allow', allowRemote as never);
    return s;
  }

  it('with no trusted proxies (Istio default) a client-written XFF is not believed', async () => {
    const s = await setup(0);
    try {
      expect((await raw(s.port, '/', { 'x-forwarded-for': '203.0.113.7' })).status).toBe(403);
    } finally {
      await s.close();
    }
  });

  it('with one trusted proxy the rightmost entry is the client; what the client prepended is not', async () => {
    const s = await setup(1);
    try {
      expect((await raw(s.port, '/', { 'x-forwarded-for': '198.51.100.1, 203.0.113.7' })).status).toBe(200);
      expect((await raw(s.port, '/', { 'x-forwarded-for': '203.0.113.7, 198.51.100.1' })).status).toBe(403);
    } finally {
      await s.close();
    }
  });
});
