// RequestAuthentication token handling (shared spec waypoint.md §5.2): where tokens are found,
// what makes one invalid, and which claims end up in the request principal.
import { generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { findToken, JWKS_FETCH_FAILED, JwksCache, verifyJwt } from '../src/filters/jwt.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwks = JSON.stringify({
  keys: [
    { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'r', alg: 'RS256' },
    { ...ec.publicKey.export({ format: 'jwk' }), kid: 'e', alg: 'ES256' },
  ],
});
const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
function jwt(claims: unknown, alg: 'RS256' | 'ES256' = 'RS256'): string {
  const head = `${enc({ alg, kid: alg === 'RS256' ? 'r' : 'e' })}.${enc(claims)}`;
  const sig =
    alg === 'RS256'
      ? sign('sha256', Buffer.from(head), rsa.privateKey)
      : sign('sha256', Buffer.from(head), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${head}.${sig.toString('base64url')}`;
}
const rule = { issuer: 'iss', jwks, audiences: ['bookinfo'] };
const now = Date.now();
const good = { iss: 'iss', sub: 'alice', aud: 'bookinfo', exp: Math.floor(now / 1000) + 60 };

describe('JWT', () => {
  const keys = new JwksCache();
  it('accepts RS256 and ES256 tokens; the principal is iss/sub', async () => {
    expect(await verifyJwt(rule, jwt(good), keys)).toMatchObject({ kind: 'ok', principal: 'iss/alice' });
    expect(await verifyJwt(rule, jwt(good, 'ES256'), keys)).toMatchObject({ kind: 'ok' });
  });

  it.each([
    ['expired', { ...good, exp: Math.floor(now / 1000) - 1 }, /expired/],
    ['not yet valid', { ...good, nbf: Math.floor(now / 1000) + 60 }, /not yet valid/],
    // Regressions: a non-numeric exp/nbf used to be ignored (the token passed).
    ['with a string exp', { ...good, exp: 'never' }, /^Jwt payload \[exp\] field is not an integer$/],
    ['with a string nbf', { ...good, nbf: '0' }, /^Jwt payload \[nbf\] field is not an integer$/],
    [
      'with a fractional exp',
      { ...good, exp: Math.floor(now / 1000) + 60.5 },
      /\[exp\] field is not an integer/,
    ],
    // Regressions: a payload of null made the waypoint answer 500.
    ['a null payload', null, /^Jwt payload is an invalid JSON$/],
    ['an array payload', [good], /^Jwt payload is an invalid JSON$/],
    ['wrong audience', { ...good, aud: 'other' }, /Audiences/],
    ['wrong issuer', { ...good, iss: 'evil' }, /issuer/],
  ])('refuses a token that is %s', async (_name, claims, reason) => {
    const r = await verifyJwt(rule, jwt(claims), keys);
    expect(r.kind).toBe('invalid');
    expect((r as { reason: string }).reason).toMatch(reason);
  });

  it('refuses a forged signature and garbage', async () => {
    const t = jwt(good);
    const forged = `${t.split('.').slice(0, 2).join('.')}.${Buffer.from('nope').toString('base64url')}`;
    expect((await verifyJwt(rule, forged, keys)).kind).toBe('invalid');
    expect((await verifyJwt(rule, 'a.b', keys)).kind).toBe('invalid');
    expect((await verifyJwt(rule, '!!!.???.***', keys)).kind).toBe('invalid');
  });

  it('finds tokens where Istio looks: Authorization Bearer, then access_token; or configured locations', () => {
    expect(findToken(rule, { authorization: 'Bearer abc' }, new URLSearchParams())).toEqual({
      token: 'abc',
      header: 'authorization',
    });
    expect(findToken(rule, {}, new URLSearchParams('access_token=q'))).toEqual({
      token: 'q',
      param: 'access_token',
    });
    expect(
      findToken(
        { ...rule, fromHeaders: [{ name: 'x-jwt' }] },
        { 'x-jwt': 't' },
        new URLSearchParams('access_token=q'),
      ),
    ).toEqual({
      token: 't',
      header: 'x-jwt',
    });
    expect(findToken(rule, { authorization: 'Basic xyz' }, new URLSearchParams())).toBeUndefined();
  });

  it('fetches a jwksUri once and keeps the last good keys when the server goes away', async () => {
    const http = await import('node:http');
    let fetches = 0;
    const server = http.createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(jwks);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const uri = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/jwks.json`;
    const remote = { issuer: 'iss', jwksUri: uri };
    // Off by default: the controller inlines the keys; this waypoint fetches nothing.
    expect(await verifyJwt(remote, jwt(good), new JwksCache())).toEqual({
      kind: 'invalid',
      reason: JWKS_FETCH_FAILED,
    });
    expect(fetches).toBe(0);
    const cache = new JwksCache({ remoteFetch: true });
    expect(await verifyJwt(remote, jwt(good), cache)).toMatchObject({ kind: 'ok' });
    expect(await verifyJwt(remote, jwt(good, 'ES256'), cache)).toMatchObject({ kind: 'ok' });
    expect(fetches).toBe(1);
    await new Promise((r) => server.close(r));
    expect(await verifyJwt(remote, jwt(good), cache)).toMatchObject({ kind: 'ok' });
    const unreachable = await verifyJwt(
      { issuer: 'iss', jwksUri: 'http://127.0.0.1:1/none' },
      jwt(good),
      new JwksCache({ remoteFetch: true }),
    );
    expect(unreachable).toEqual({ kind: 'invalid', reason: JWKS_FETCH_FAILED }); // fail closed: 401, never a pass
  });

  it('a failing jwksUri: the 401 reason says nothing of the fetch, and failures are backed off', async () => {
    const http = await import('node:http');
    let fetches = 0;
    const server = http.createServer((_req, res) => {
      fetches++;
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('secret internal page');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const uri = `http://127.0.0.1:${(server.address() as import('node:net').AddressInfo).port}/internal`;
    const cache = new JwksCache({ remoteFetch: true, log: () => {} });
    const reasons = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const r = await verifyJwt({ issuer: 'iss', jwksUri: uri }, jwt(good), cache);
      reasons.add((r as { reason: string }).reason);
    }
    await new Promise((r) => server.close(r));
    // Was: "Jwks remote fetch failed: GET http://…/internal: 500" — an oracle for any URL.
    expect([...reasons]).toEqual([JWKS_FETCH_FAILED]);
    expect(fetches).toBe(1);
  });
});

describe('JWT parsing', () => {
  it('fuzz: JWT verification — any token is refused with a reason, never accepted, never an exception', async () => {
    const fc = (await import('fast-check')).default;
    const keys = new JwksCache();
    const part = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map(enc),
      fc.string({ maxLength: 40 }).map((s) => Buffer.from(s).toString('base64url')),
      fc.string({ maxLength: 20 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.tuple(part, part, part), fc.boolean(), async ([h, p, s], realHeader) => {
        const token = `${realHeader ? enc({ alg: 'RS256', kid: 'r' }) : h}.${p}.${s}`;
        const r = await verifyJwt(rule, token, keys);
        expect(r.kind).toBe('invalid');
        expect(typeof (r as { reason: string }).reason).toBe('string');
      }),
    );
  });
});
