// The keys behind RequestAuthentication `jwksUri`s, fetched by the controller and sent to
// waypoints inline — istiod's default (PILOT_JWT_ENABLE_REMOTE_JWKS=istiod; its JWKS resolver
// refreshes every 20 minutes, PILOT_JWT_PUB_KEY_REFRESH_INTERVAL). So no request, and no
// client's token, ever makes a proxy fetch a URL that a policy names. A fetch is bounded
// (5 s, 1 MiB, http/https only); a failure keeps the last good keys and is retried with
// back-off (1 s doubling to 5 min), never once per translation.
export const JWKS_REFRESH_MS = 20 * 60_000;
const FETCH_TIMEOUT_MS = 5000;
const MAX_JWKS_BYTES = 1024 * 1024;
const MIN_RETRY_MS = 1000;
const MAX_RETRY_MS = 5 * 60_000;

interface Entry {
  jwks?: string;
  error?: string;
  fetchedAt?: number;
  retryAt: number;
  retryMs: number;
  inflight: boolean;
}

export class JwksResolver {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(
    private readonly onChange: () => void,
    private readonly log: (msg: string, fields: Record<string, unknown>) => void = () => {},
    private readonly refreshMs = JWKS_REFRESH_MS,
  ) {}

  /** The keys of `uri` as last fetched (starting a fetch when due), or why there are none. */
  get(uri: string): { jwks: string } | { error: string } {
    let e = this.entries.get(uri);
    if (!e) {
      e = { retryAt: 0, retryMs: MIN_RETRY_MS, inflight: false };
      this.entries.set(uri, e);
    }
    const now = Date.now();
    const stale = e.fetchedAt === undefined || now - e.fetchedAt >= this.refreshMs;
    if (stale && !e.inflight && now >= e.retryAt) void this.fetch(uri, e);
    if (e.jwks !== undefined) return { jwks: e.jwks };
    return { error: e.error ?? 'the controller has not fetched the keys yet' };
  }

  close(): void {
    this.closed = true;
  }

  private async fetch(uri: string, e: Entry): Promise<void> {
    e.inflight = true;
    const before = { jwks: e.jwks, error: e.error };
    try {
      const url = new URL(uri);
      if (url.protocol !== 'https:' && url.protocol !== 'http:')
        throw new Error(`scheme ${url.protocol} is not http(s)`);
      const res = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const text = await readBounded(res, MAX_JWKS_BYTES);
      const doc = JSON.parse(text) as { keys?: unknown };
      if (!Array.isArray(doc.keys)) throw new Error('not a JWKS document (no "keys" array)');
      e.jwks = JSON.stringify({ keys: doc.keys });
      e.error = undefined;
      e.fetchedAt = Date.now();
      e.retryMs = MIN_RETRY_MS;
    } catch (err) {
      const message = `cannot fetch ${uri}: ${(err as Error).message}`;
      e.error = message;
      e.retryAt = Date.now() + e.retryMs;
      this.log('JWKS fetch failed; last good keys kept', {
        uri,
        error: (err as Error).message,
        retryMs: e.retryMs,
      });
      e.retryMs = Math.min(e.retryMs * 2, MAX_RETRY_MS);
    } finally {
      e.inflight = false;
    }
    // Keys that changed are re-sent; a new failure is re-translated so its warning is shown.
    if (!this.closed && (e.jwks !== before.jwks || e.error !== before.error)) this.onChange();
  }
}

async function readBounded(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > max) throw new Error(`JWKS larger than ${max} bytes`);
  const reader = res.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new Error(`JWKS larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
