// A bounded HTTP load: `count` requests with `concurrency` in flight, each with a timeout;
// the summary says which statuses came back, which pods answered (from http-echo's JSON)
// and how long requests took. Used by the waypoint scenarios from inside a client pod.
import http from 'node:http';

export interface LoadOptions {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  count: number;
  concurrency: number;
  timeoutMs: number;
}

export interface LoadSummary {
  count: number;
  statuses: Record<string, number>;
  pods: Record<string, number>;
  /** Requests that got no response (reset, refused, timeout), by error code. */
  errors: Record<string, number>;
  latencyMs: { min: number; p50: number; p99: number; max: number };
  /** Per-request: status and duration, in send order (bounded by count). */
  samples: { status: number; ms: number; pod?: string; overloaded?: boolean }[];
}

export async function httpLoad(o: LoadOptions): Promise<LoadSummary> {
  // One keep-alive agent per client "connection slot", like a pool of real clients.
  const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(1, o.concurrency) });
  const out: LoadSummary = {
    count: o.count,
    statuses: {},
    pods: {},
    errors: {},
    latencyMs: { min: 0, p50: 0, p99: 0, max: 0 },
    samples: [],
  };
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const start = performance.now();
      const index = out.samples.length;
      out.samples.push({ status: 0, ms: 0 });
      const req = http.request(
        o.url,
        { method: o.method ?? 'GET', headers: o.headers, agent, timeout: o.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const ms = performance.now() - start;
            const status = res.statusCode ?? 0;
            out.statuses[status] = (out.statuses[status] ?? 0) + 1;
            let pod: string | undefined;
            try {
              pod = (JSON.parse(Buffer.concat(chunks).toString()) as { pod?: string }).pod;
            } catch {
              // not an echo answer (a local reply from the proxy)
            }
            if (pod) out.pods[pod] = (out.pods[pod] ?? 0) + 1;
            out.samples[index] = {
              status,
              ms,
              ...(pod ? { pod } : {}),
              ...(res.headers['x-envoy-overloaded'] ? { overloaded: true } : {}),
            };
            resolve();
          });
          res.on('error', () => resolve());
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const code = err.code ?? 'ERROR';
        out.errors[code] = (out.errors[code] ?? 0) + 1;
        out.samples[index] = { status: 0, ms: performance.now() - start };
        resolve();
      });
      req.end();
    });
  const worker = async () => {
    while (next < o.count) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency) }, worker));
  agent.destroy();
  const ms = out.samples.map((s) => s.ms).sort((a, b) => a - b);
  const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))] ?? 0;
  out.latencyMs = { min: ms[0] ?? 0, p50: q(0.5), p99: q(0.99), max: ms[ms.length - 1] ?? 0 };
  return out;
}
