// RequestAuthentication as Envoy's jwt_authn enforces it for Istio — shared spec waypoint.md
// §5.2: tokens from `fromHeaders` (default `Authorization: Bearer`) and `fromParams` (default
// `access_token`); no token → the request passes without a request principal; a token that
// fails (signature, issuer, audience, expiry, malformed) → 401 with `WWW-Authenticate`; the
// token header is removed unless `forwardOriginalToken`; `outputPayloadToHeader` and
// `outputClaimToHeaders` are honoured. JWKS inline (`jwks`) or fetched (`jwksUri`, cached,
// refreshed every 20 minutes like istiod's cache, 5 s timeout).
import { createPublicKey, type JsonWebKey, type KeyObject, verify } from 'node:crypto';

export interface JwtRule {
  issuer: string;
  audiences?: string[];
  jwks?: string;
  jwksUri?: string;
  fromHeaders?: { name: string; prefix?: string }[];
  fromParams?: string[];
  forwardOriginalToken?: boolean;
  outputPayloadToHeader?: string;
  outputClaimToHeaders?: { header: string; claim: string }[];
  timeout?: string;
}

export type JwtResult =
  | { kind: 'none' }
  | { kind: 'ok'; principal: string; claims: Record<string, unknown> }
  | { kind: 'invalid'; reason: string };

const ALGS: Record<string, { hash: string; dsa?: 'ieee-p1363'; pss?: boolean }> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  PS256: { hash: 'sha256', pss: true },
  PS384: { hash: 'sha384', pss: true },
  PS512: { hash: 'sha512', pss: true },
  ES256: { hash: 'sha256', dsa: 'ieee-p1363' },
  ES384: { hash: 'sha384', dsa: 'ieee-p1363' },
  ES512: { hash: 'sha512', dsa: 'ieee-p1363' },
};

interface KeySet {
  keys: { kid?: string; alg?: string; key: KeyObject }[];
  fetchedAt: number;
}

function parseJwks(text: string): KeySet {
  const doc = JSON.parse(text) as { keys?: (JsonWebKey & { kid?: string; alg?: string })[] };
  if (!Array.isArray(doc.keys)) throw new Error('JWKS has no "keys" array');
  const keys: KeySet['keys'] = [];
  for (const jwk of doc.keys) {
    try {
      keys.push({
        ...(jwk.kid ? { kid: jwk.kid } : {}),
        ...(jwk.alg ? { alg: jwk.alg } : {}),
        key: createPublicKey({ key: jwk, format: 'jwk' }),
      });
    } catch {
      // A key we cannot use (e.g. symmetric) is skipped, as Envoy does.
    }
  }
  return { keys, fetchedAt: Date.now() };
}

function b64url(s: string): Buffer {
  return Buffer.from(s, 'base64url');
}

export class JwksCache {
  private readonly cache = new Map<string, KeySet>();
  private readonly inflight = new Map<string, Promise<KeySet>>();

  async keysFor(rule: JwtRule): Promise<KeySet> {
    if (rule.jwks) {
      let ks = this.cache.get(`inline:${rule.jwks}`);
      if (!ks) {
        ks = parseJwks(rule.jwks);
        this.cache.set(`inline:${rule.jwks}`, ks);
      }
      return ks;
    }
    const uri = rule.jwksUri!;
    const cached = this.cache.get(uri);
    if (cached && Date.now() - cached.fetchedAt < 20 * 60_000) return cached;
    let p = this.inflight.get(uri);
    if (!p) {
      p = fetch(uri, { signal: AbortSignal.timeout(5000) })
        .then(async (res) => {
          if (!res.ok) throw new Error(`GET ${uri}: ${res.status}`);
          const ks = parseJwks(await res.text());
          this.cache.set(uri, ks);
          return ks;
        })
        .finally(() => this.inflight.delete(uri));
      this.inflight.set(uri, p);
    }
    try {
      return await p;
    } catch (err) {
      if (cached) return cached; // keep the last good keys
      throw err;
    }
  }
}

export interface TokenLocation {
  token: string;
  /** Header to remove (unless forwardOriginalToken) or query parameter. */
  header?: string;
  param?: string;
}

export function findToken(
  rule: JwtRule,
  headers: Record<string, string | string[] | undefined>,
  query: URLSearchParams,
): TokenLocation | undefined {
  const hdrs = rule.fromHeaders?.length ? rule.fromHeaders : [{ name: 'authorization', prefix: 'Bearer ' }];
  for (const h of hdrs) {
    const raw = headers[h.name.toLowerCase()];
    const v = Array.isArray(raw) ? raw[0] : raw;
    if (v === undefined) continue;
    const prefix = h.prefix ?? '';
    if (prefix && !v.toLowerCase().startsWith(prefix.toLowerCase())) continue;
    return { token: v.slice(prefix.length).trim(), header: h.name.toLowerCase() };
  }
  const params = rule.fromParams?.length ? rule.fromParams : rule.fromHeaders?.length ? [] : ['access_token'];
  for (const p of params) {
    const v = query.get(p);
    if (v) return { token: v, param: p };
  }
  return undefined;
}

/** Verifies one token against one rule (signature, iss, aud, exp, nbf). */
export async function verifyJwt(
  rule: JwtRule,
  token: string,
  keys: JwksCache,
  now = Date.now(),
): Promise<JwtResult> {
  const parts = token.split('.');
  if (parts.length !== 3)
    return { kind: 'invalid', reason: 'Jwt is not in the form of Header.Payload.Signature' };
  let header: { alg?: string; kid?: string };
  let claims: Record<string, unknown>;
  try {
    header = JSON.parse(b64url(parts[0]!).toString('utf8'));
    claims = JSON.parse(b64url(parts[1]!).toString('utf8'));
  } catch {
    return { kind: 'invalid', reason: 'Jwt header or payload is not valid JSON' };
  }
  if (claims.iss !== rule.issuer) return { kind: 'invalid', reason: 'Jwt issuer is not configured' };
  const alg = ALGS[header.alg ?? ''];
  if (!alg) return { kind: 'invalid', reason: `Jwt algorithm ${header.alg} is not supported` };
  let ks: KeySet;
  try {
    ks = await keys.keysFor(rule);
  } catch (err) {
    return { kind: 'invalid', reason: `Jwks remote fetch failed: ${(err as Error).message}` };
  }
  const candidates = ks.keys.filter(
    (k) => (!header.kid || !k.kid || k.kid === header.kid) && (!k.alg || k.alg === header.alg),
  );
  const data = Buffer.from(`${parts[0]}.${parts[1]}`);
  const sig = b64url(parts[2]!);
  const ok = candidates.some((k) => {
    try {
      return verify(
        alg.hash,
        data,
        alg.dsa
          ? { key: k.key, dsaEncoding: alg.dsa }
          : alg.pss
            ? { key: k.key, padding: 6 /* RSA_PKCS1_PSS_PADDING */ }
            : k.key,
        sig,
      );
    } catch {
      return false;
    }
  });
  if (!ok) return { kind: 'invalid', reason: 'Jwt verification fails' };
  const sec = now / 1000;
  if (typeof claims.exp === 'number' && sec >= claims.exp)
    return { kind: 'invalid', reason: 'Jwt is expired' };
  if (typeof claims.nbf === 'number' && sec < claims.nbf)
    return { kind: 'invalid', reason: 'Jwt not yet valid' };
  if (rule.audiences?.length) {
    const aud = Array.isArray(claims.aud)
      ? claims.aud.map(String)
      : claims.aud !== undefined
        ? [String(claims.aud)]
        : [];
    if (!aud.some((a) => rule.audiences!.includes(a)))
      return { kind: 'invalid', reason: 'Audiences in Jwt are not allowed' };
  }
  return { kind: 'ok', principal: `${claims.iss}/${claims.sub ?? ''}`, claims };
}
