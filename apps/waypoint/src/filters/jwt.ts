// RequestAuthentication as Envoy's jwt_authn enforces it for Istio — shared spec waypoint.md
// §5.2: tokens from `fromHeaders` (default `Authorization: Bearer`) and `fromParams` (default
// `access_token`); no token → the request passes without a request principal; a token that
// fails (signature, issuer, audience, expiry, malformed) → 401 with `WWW-Authenticate`; the
// token header is removed unless `forwardOriginalToken`; `outputPayloadToHeader` and
// `outputClaimToHeaders` are honoured. Keys arrive inline (`jwks`): the controller fetches a
// `jwksUri` and inlines its keys, as istiod does by default, so no client's token makes this
// proxy fetch a URL. Fetching by the waypoint is a switch (AMBIENT_REMOTE_JWKS, off): then
// cached 20 minutes, 5 s timeout, 1 MiB, failures backed off (1 s doubling to 5 min). The
// 401 bodies are Envoy's jwt_verify_lib statuses — never fetch details.
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

/** A base64url JSON object (not null, not an array), or undefined. */
function jsonObject(part: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(b64url(part).toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Envoy's status when keys could not be had; what went wrong goes to the log, not the client. */
export const JWKS_FETCH_FAILED = 'Jwks remote fetch is failed';
const NO_MATCHING_KEY = "Jwks doesn't have key to match kid or alg from Jwt";
const MAX_JWKS_BYTES = 1024 * 1024;

export interface JwksCacheOptions {
  /** Fetch `jwksUri` from this proxy (default false: only inline keys are used). */
  remoteFetch?: boolean;
  log?: (msg: string, fields: Record<string, unknown>) => void;
}

export class JwksCache {
  private readonly cache = new Map<string, KeySet>();
  private readonly inflight = new Map<string, Promise<KeySet>>();
  private readonly failures = new Map<string, { until: number; delayMs: number }>();

  constructor(private readonly opts: JwksCacheOptions = {}) {}

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
    if (!this.opts.remoteFetch) throw new Error('remote JWKS fetching is disabled on this waypoint');
    const cached = this.cache.get(uri);
    if (cached && Date.now() - cached.fetchedAt < 20 * 60_000) return cached;
    const failed = this.failures.get(uri);
    if (failed && Date.now() < failed.until) {
      if (cached) return cached;
      throw new Error('backing off after a failed fetch');
    }
    let p = this.inflight.get(uri);
    if (!p) {
      p = fetch(uri, { signal: AbortSignal.timeout(5000), redirect: 'error' })
        .then(async (res) => {
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          if (Number(res.headers.get('content-length') ?? '0') > MAX_JWKS_BYTES)
            throw new Error('JWKS too large');
          const text = await res.text();
          if (text.length > MAX_JWKS_BYTES) throw new Error('JWKS too large');
          const ks = parseJwks(text);
          this.cache.set(uri, ks);
          this.failures.delete(uri);
          return ks;
        })
        .catch((err: Error) => {
          const delayMs = Math.min((this.failures.get(uri)?.delayMs ?? 500) * 2, 5 * 60_000);
          this.failures.set(uri, { until: Date.now() + delayMs, delayMs });
          this.opts.log?.('JWKS fetch failed', { uri, error: err.message, retryInMs: delayMs });
          throw err;
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
  const header = jsonObject(parts[0]!) as { alg?: string; kid?: string } | undefined;
  if (!header) return { kind: 'invalid', reason: 'Jwt header is an invalid JSON' };
  const claims = jsonObject(parts[1]!);
  if (!claims) return { kind: 'invalid', reason: 'Jwt payload is an invalid JSON' };
  // jwt_verify_lib: registered time claims must be integers (seconds) when present.
  for (const c of ['exp', 'nbf', 'iat'] as const)
    if (claims[c] !== undefined && !Number.isSafeInteger(claims[c]))
      return { kind: 'invalid', reason: `Jwt payload [${c}] field is not an integer` };
  if (claims.iss !== rule.issuer) return { kind: 'invalid', reason: 'Jwt issuer is not configured' };
  const alg = ALGS[header.alg ?? ''];
  if (!alg) return { kind: 'invalid', reason: `Jwt algorithm ${header.alg} is not supported` };
  let ks: KeySet;
  try {
    ks = await keys.keysFor(rule);
  } catch {
    return { kind: 'invalid', reason: JWKS_FETCH_FAILED };
  }
  const candidates = ks.keys.filter(
    (k) => (!header.kid || !k.kid || k.kid === header.kid) && (!k.alg || k.alg === header.alg),
  );
  if (candidates.length === 0) return { kind: 'invalid', reason: NO_MATCHING_KEY };
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
  const sec = Math.floor(now / 1000);
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
