// The HTTP echo app every scenario uses as "the app": it answers with what it received
// (method, path, query, headers, source and destination address, its pod name), and can
// be told to fail a share of requests or to be slow — per process or per request.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpEchoOptions {
  port: number;
  host?: string;
  /** Reported as `pod` in every answer (scenarios check which backend answered). */
  podName?: string;
  /** Answer `failStatus` to this share (0..1) of requests. */
  failRatio?: number;
  failStatus?: number;
  /** Answer `failStatus` to every n-th request (deterministic: `2` fails every other one). */
  failEvery?: number;
  /** Delay every answer by this many milliseconds. */
  delayMs?: number;
}

/** Per-request overrides, as request headers. */
export const ECHO_STATUS_HEADER = 'x-echo-status';
export const ECHO_DELAY_HEADER = 'x-echo-delay-ms';

export interface EchoAnswer {
  pod: string;
  method: string;
  /** The path as a WHATWG-URL-parsing backend sees it (dot segments, %2e included, resolved). */
  path: string;
  /** The request target exactly as received. */
  target: string;
  query: Record<string, string>;
  headers: Record<string, string | string[] | undefined>;
  source: { address: string; port: number };
  destination: { address: string; port: number };
  bodyBytes: number;
  httpVersion: string;
}

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

export function startHttpEcho(opts: HttpEchoOptions): Promise<RunningServer> {
  const failRatio = opts.failRatio ?? 0;
  const failStatus = opts.failStatus ?? 503;
  let served = 0;
  const server = http.createServer((req, res) => {
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
    });
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://echo');
      const answer: EchoAnswer = {
        pod: opts.podName ?? 'unknown',
        method: req.method ?? '',
        path: url.pathname,
        target: req.url ?? '',
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        source: { address: plainIp(req.socket.remoteAddress), port: req.socket.remotePort ?? 0 },
        destination: { address: plainIp(req.socket.localAddress), port: req.socket.localPort ?? 0 },
        bodyBytes,
        httpVersion: req.httpVersion,
      };
      const forced = Number(req.headers[ECHO_STATUS_HEADER]);
      served++;
      const status =
        Number.isInteger(forced) && forced >= 100 && forced <= 599
          ? forced
          : (failRatio > 0 && Math.random() < failRatio) || (opts.failEvery && served % opts.failEvery === 0)
            ? failStatus
            : 200;
      const delay = Number(req.headers[ECHO_DELAY_HEADER] ?? opts.delayMs ?? 0);
      const reply = () => {
        const body = JSON.stringify(answer);
        res.writeHead(status, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      };
      if (delay > 0) setTimeout(reply, delay);
      else reply();
    });
  });
  return listen(server, opts.port, opts.host);
}

export function listen(
  server: http.Server | import('node:net').Server,
  port: number,
  host?: string,
): Promise<RunningServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    const onListening = () => {
      server.off('error', reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            if ('closeAllConnections' in server) server.closeAllConnections();
          }),
      });
    };
    // No host: bind the wildcard synchronously (dual-stack), see capture-from-node.md §3b.
    if (host) server.listen(port, host, onListening);
    else server.listen(port, onListening);
  });
}

/** `::ffff:10.0.0.1` → `10.0.0.1`; other addresses unchanged. */
export function plainIp(address: string | undefined): string {
  if (!address) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
