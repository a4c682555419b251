// The files-mode token verifier (TokenIssuer) — what it accepts and what it refuses, with the
// reason an operator sees. Tokens are real ES256 JWTs; the keys are real files.
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { bearerToken, serviceAccountOf, TOKEN_AUDIENCE, TOKEN_ISSUER, TokenIssuer } from './tokens.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tokens-'));
const issuer = TokenIssuer.loadOrCreate(path.join(dir, 'key.pem'));

describe('TokenIssuer', () => {
  it('keeps its key at mode 0600 and loads the same key again', async () => {
    expect(statSync(path.join(dir, 'key.pem')).mode & 0o777).toBe(0o600);
    const t = await issuer.sign(
      { namespace: 'ambient-system', serviceAccount: 'ztunnel', node: 'node1' },
      60,
    );
    const again = TokenIssuer.loadOrCreate(path.join(dir, 'key.pem'));
    expect(await again.review(t)).toEqual({
      authenticated: true,
      username: 'system:serviceaccount:ambient-system:ztunnel',
      nodeName: 'node1',
    });
  });

  it('refuses another signer, expiry, another audience or issuer, a non-SA subject, garbage', async () => {
    const other = TokenIssuer.loadOrCreate(path.join(dir, 'other.pem'));
    const sa = { namespace: 'shop', serviceAccount: 'web' };
    expect(await issuer.review(await other.sign(sa, 60))).toMatchObject({ authenticated: false });
    expect(await issuer.review(await issuer.sign(sa, -1))).toEqual({
      authenticated: false,
      error: 'token expired',
    });
    const key = (issuer as unknown as { key: import('node:crypto').KeyObject }).key;
    const forge = (claims: { aud?: string; iss?: string; sub?: string }) =>
      new SignJWT({})
        .setProtectedHeader({ alg: 'ES256' })
        .setIssuer(claims.iss ?? TOKEN_ISSUER)
        .setAudience(claims.aud ?? TOKEN_AUDIENCE)
        .setSubject(claims.sub ?? 'system:serviceaccount:shop:web')
        .setExpirationTime('1h')
        .sign(key);
    expect(await issuer.review(await forge({ aud: 'kubernetes' }))).toMatchObject({
      authenticated: false,
      error: 'token claim aud invalid',
    });
    expect(await issuer.review(await forge({ iss: 'someone-else' }))).toMatchObject({ authenticated: false });
    expect(await issuer.review(await forge({ sub: 'admin' }))).toMatchObject({
      authenticated: false,
      error: 'token subject is not a service account',
    });
    expect(await issuer.review('x'.repeat(9000))).toEqual({ authenticated: false, error: 'token too long' });
    expect(await issuer.review('a.b.c')).toMatchObject({ authenticated: false });
    // alg none, with the right claims, is not a signature.
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: TOKEN_ISSUER, aud: TOKEN_AUDIENCE, sub: 'system:serviceaccount:shop:web', exp: 9999999999 })).toString('base64url')}.`;
    expect(await issuer.review(none)).toMatchObject({ authenticated: false });
  });

  it('parses authorization headers and service-account user names strictly', () => {
    expect(bearerToken('Bearer abc.def')).toBe('abc.def');
    expect(bearerToken('bearer  abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBe('');
    expect(bearerToken('Bearer a b')).toBe('');
    expect(serviceAccountOf('system:serviceaccount:ns:sa')).toEqual({
      namespace: 'ns',
      serviceAccount: 'sa',
    });
    expect(serviceAccountOf('system:serviceaccount:ns:sa:extra')).toBeUndefined();
    expect(serviceAccountOf('system:node:node1')).toBeUndefined();
  });
});
