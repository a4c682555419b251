// The waypoint's HTTP front: what a CONNECT tunnel carries once the HBONE server has accepted
// it. The first bytes decide the protocol — the HTTP/2 connection preface, or HTTP/1.1 — and
// every request goes to the router with the tunnel's context (service, principal, source).
// Shared spec waypoint.md §0. Used by the waypoint (app.ts) and by the L7 benchmark, so the
// benchmark measures this code, not a copy.
import http from 'node:http';
import http2 from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Downstream, Router } from './router.js';
import { asPlainDuplex } from './upstream/duplex.js';

const HTTP2_PREFACE = 'PRI * HTTP/2.0';
/** Per-stream receive window of the HTTP/2 servers inside tunnels (request bodies, gRPC). */
const H2_STREAM_WINDOW = 4 * 1024 * 1024;
/** Concurrent requests on one client HTTP/2 connection (RFC 9113's recommended minimum). */
export const H2_MAX_CONCURRENT_STREAMS = 100;
/** A request with no bytes in either direction for this long is reset (Envoy stream_idle_timeout). */
export const STREAM_IDLE_TIMEOUT_MS = 5 * 60_000;

export class HttpFront {
  private readonly contexts = new WeakMap<object, Downstream>();
  // Node's defaults, explicit: headers within 60 s, the whole request within 5 min.
  private readonly h1 = http.createServer({
    keepAliveTimeout: 60_000,
    headersTimeout: 60_000,
    requestTimeout: 300_000,
  });

  constructor(private readonly router: Router) {
    this.h1.on('request', (req, res) => {
      const ds = this.contexts.get(req.socket);
      if (!ds) {
        res.writeHead(500).end();
        return;
      }
      void this.router.handle(req, res, ds);
    });
    // A peer's malformed HTTP closes its tunnel; it never reaches the router.
    this.h1.on('clientError', (_err, socket) => socket.destroy());
  }

  /** Serves one accepted tunnel; the front owns the stream from here. */
  serve(stream: Duplex, base: Omit<Downstream, 'http2'>): void {
    stream.on('error', () => {});
    const onFirst = () => {
      const first: Buffer | null = stream.read();
      if (first === null) return void stream.once('readable', onFirst);
      stream.unshift(first);
      if (first.subarray(0, HTTP2_PREFACE.length).toString('latin1') === HTTP2_PREFACE) {
        // One HTTP/2 server per tunnel: its sessions know their context by closure.
        const ds: Downstream = { ...base, http2: true };
        const server = http2.createServer({
          settings: { initialWindowSize: H2_STREAM_WINDOW, maxConcurrentStreams: H2_MAX_CONCURRENT_STREAMS },
        });
        server.on('stream', (s) =>
          s.setTimeout(STREAM_IDLE_TIMEOUT_MS, () => s.close(http2.constants.NGHTTP2_CANCEL)),
        );
        server.on('request', (req, res) => void this.router.handle(req, res, ds));
        server.on('sessionError', () => {});
        server.emit('connection', stream);
      } else {
        const plain = asPlainDuplex(stream);
        this.contexts.set(plain, { ...base, http2: false });
        this.h1.emit('connection', plain);
      }
    };
    onFirst();
  }
}
