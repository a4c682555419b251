// HBONE server — shared spec ztunnel.md §1.2, §1.3, §1.7: mutual TLS (client certificate
// required, client trust domain = ours), HTTP/2 with HBONE's windows, CONNECT only. Each
// CONNECT stream goes to a handler that decides the outcome; errors are headers-only
// responses (400 bad request, 401 denied, 503 no workload / upstream failed); on 200 the
// stream is piped to the upstream socket the handler connected.
//
// Bounded work per peer (limits beside Envoy's): a TLS handshake must finish within
// HANDSHAKE_TIMEOUT_MS (Node's default is 120 s) and at most MAX_PENDING_HANDSHAKES are in
// flight; a stream the peer reset before its decision gets no upstream dial (`req.signal`);
// a session whose streams are mostly reset early is closed with GOAWAY ENHANCE_YOUR_CALM —
// Envoy's premature-reset rule (CVE-2023-44487): past 500 streams, more than half of them
// reset within 1 s of opening.
import http2 from 'node:http2';
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import { type Identity, verifyClientTrustDomain } from '@ambient/mtls';
import { type Authority, parseAuthority } from './headers.js';
import { type PipeResult, pipeTunnel } from './pipe.js';
import { CONNECTION_WINDOW, type HboneTuning, MAX_SESSION_MEMORY_MB, serverSettings } from './settings.js';

export interface HboneRequest {
  /** Parsed `:authority` (already validated as `ip:port` or `host:port`). */
  authority: Authority;
  rawAuthority: string;
  headers: http2.IncomingHttpHeaders;
  peerIdentity: Identity;
  /** TCP peer of the HBONE connection (the source pod or waypoint). */
  remoteAddress: string;
  /** Aborted when the peer resets or closes the stream: a handler dials nothing then. */
  signal: AbortSignal;
  remotePort: number;
  /** Local address the HBONE connection arrived on (the destination pod IP in-pod). */
  localAddress: string;
}

/** What the handler decided: refuse with a status, or tunnel to a connected socket. */
export type HboneDecision =
  | { status: 400 | 401 | 403 | 404 | 503 | 504; reason: string }
  | { status: 200; upstream: net.Socket; responseHeaders?: Record<string, string> }
  /** The handler serves the tunnel itself (a waypoint parses HTTP inside it); it owns the stream. */
  | { status: 200; serve(stream: Duplex): void; responseHeaders?: Record<string, string> };

export interface HboneServerOptions {
  tls: tls.TlsOptions;
  trustDomain: string;
  handler(req: HboneRequest): Promise<HboneDecision>;
  /** Called when a tunnel ends (for logs and metrics). */
  onTunnelEnd?(req: HboneRequest, result: PipeResult): void;
  /** Called for connection-level failures (TLS, trust domain, bad requests). */
  onConnectionError?(err: Error, remote: string): void;
  tuning?: HboneTuning;
  pingIntervalMs?: number;
  /** Limits (defaults HBONE_SERVER_LIMITS); tests shorten them. */
  limits?: Partial<HboneServerLimits>;
}

export interface HboneServerLimits {
  handshakeTimeoutMs: number;
  maxPendingHandshakes: number;
  prematureResetStreams: number;
  prematureResetLifetimeMs: number;
}

export const HBONE_SERVER_LIMITS: Readonly<HboneServerLimits> = {
  /** A TLS handshake that has not finished by then is dropped (Node: 120 s). */
  handshakeTimeoutMs: 10_000,
  /** Connections still in their TLS handshake; more are dropped on arrival. */
  maxPendingHandshakes: 1024,
  /** Envoy premature_reset_total_stream_count / min_stream_lifetime (1 s) / 50 %. */
  prematureResetStreams: 500,
  prematureResetLifetimeMs: 1000,
};

interface SessionCounts {
  streams: number;
  prematureResets: number;
  goneAway: boolean;
}

export class HboneServer {
  readonly server: http2.Http2SecureServer;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** The peer's identity, verified once per session (parsing the certificate per stream cost 3 % of a connection). */
  private readonly peers = new WeakMap<http2.Http2Session, Identity>();
  private readonly counts = new WeakMap<http2.Http2Session, SessionCounts>();
  private draining = false;
  private pendingHandshakes = 0;
  readonly limits: HboneServerLimits;
  /** Refusals for abuse, by kind (admin and tests read them). */
  readonly refused = { handshakeTimeout: 0, tooManyHandshakes: 0, prematureResets: 0 };
  /** `address:port` of each connection still in its handshake → its release. */
  private readonly handshaking = new Map<string, () => void>();

  constructor(private readonly opts: HboneServerOptions) {
    this.limits = { ...HBONE_SERVER_LIMITS, ...opts.limits };
    this.server = http2.createSecureServer({
      ...opts.tls,
      settings: serverSettings(opts.tuning),
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
      allowHTTP1: false,
      handshakeTimeout: this.limits.handshakeTimeoutMs,
    });
    this.server.on('tlsClientError', (err, socket) => {
      if ((err as NodeJS.ErrnoException).code === 'ERR_TLS_HANDSHAKE_TIMEOUT')
        this.refused.handshakeTimeout++;
      opts.onConnectionError?.(err, `${socket.remoteAddress}:${socket.remotePort}`);
    });
    this.server.on('connection', (socket: net.Socket) => {
      if (this.pendingHandshakes >= this.limits.maxPendingHandshakes) {
        this.refused.tooManyHandshakes++;
        socket.destroy();
        return;
      }
      this.pendingHandshakes++;
      const key = `${socket.remoteAddress}:${socket.remotePort}`;
      let pending = true;
      const done = () => {
        if (!pending) return;
        pending = false;
        this.pendingHandshakes--;
        this.handshaking.delete(key);
      };
      this.handshaking.set(key, done);
      socket.once('close', done);
      // Small tunnel writes must not wait for Nagle (latency at a fixed request rate).
      socket.setNoDelay(true);
    });
    this.server.on('secureConnection', (t: tls.TLSSocket) =>
      this.handshaking.get(`${t.remoteAddress}:${t.remotePort}`)?.(),
    );
    this.server.on('session', (session) => this.onSession(session));
    this.server.on('stream', (stream, headers) => void this.onStream(stream, headers));
  }

  /** Binds and listens; a bind error rejects (start-up fails, not a later request). */
  listen(opts: net.ListenOptions): Promise<net.AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(opts, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  /** Rotated certificate: new handshakes use it, open connections continue. */
  setSecureContext(options: tls.SecureContextOptions): void {
    this.server.setSecureContext(options);
  }

  /** Connections accepted whose TLS handshake has not finished. */
  get handshakesInFlight(): number {
    return this.pendingHandshakes;
  }

  get openSessions(): number {
    return this.sessions.size;
  }

  /**
   * Drain: stop accepting, GOAWAY every session, let open streams finish until
   * `deadlineMs`, then close what is left. Resolves when everything is closed.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.draining = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sessions) s.close();
    const timer = setTimeout(() => {
      for (const s of this.sessions) s.destroy();
    }, deadlineMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  private onSession(session: http2.ServerHttp2Session): void {
    // The chain was verified by TLS; the trust domain is checked here, before any stream.
    const socket = session.socket as tls.TLSSocket;
    try {
      this.peers.set(session, verifyClientTrustDomain(socket, this.opts.trustDomain));
    } catch (err) {
      this.opts.onConnectionError?.(err as Error, `${socket.remoteAddress}:${socket.remotePort}`);
      session.destroy();
      return;
    }
    this.sessions.add(session);
    this.counts.set(session, { streams: 0, prematureResets: 0, goneAway: false });
    session.once('close', () => this.sessions.delete(session));
    session.on('error', () => session.destroy());
    session.setLocalWindowSize(this.opts.tuning?.connectionWindow ?? CONNECTION_WINDOW);
    const interval = this.opts.pingIntervalMs ?? 10_000;
    const timer = setInterval(() => {
      if (session.closed || session.destroyed) return;
      const deadline = setTimeout(() => session.destroy(), 2 * interval);
      deadline.unref();
      try {
        session.ping(() => clearTimeout(deadline));
      } catch {
        clearTimeout(deadline);
      }
    }, interval);
    timer.unref();
    session.once('close', () => clearInterval(timer));
    if (this.draining) session.close();
  }

  /** Counts a stream of `session`; resets within the lifetime limit count as premature. */
  private watchResets(session: http2.Http2Session, stream: http2.ServerHttp2Stream): void {
    const c = this.counts.get(session);
    if (!c) return;
    c.streams++;
    const opened = performance.now();
    stream.once('close', () => {
      if (stream.rstCode === http2.constants.NGHTTP2_NO_ERROR && stream.headersSent) return;
      if (performance.now() - opened >= this.limits.prematureResetLifetimeMs) return;
      c.prematureResets++;
      if (c.goneAway || c.streams < this.limits.prematureResetStreams || c.prematureResets * 2 <= c.streams)
        return;
      c.goneAway = true;
      this.refused.prematureResets++;
      // GOAWAY first (no new stream is accepted after it), then the connection goes.
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      setTimeout(() => session.destroy(), 50).unref();
    });
  }

  private async onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
    stream.on('error', () => stream.destroy());
    const abort = new AbortController();
    stream.once('close', () => abort.abort());
    if (stream.session) this.watchResets(stream.session, stream);
    const refuse = (status: number) => {
      if (!stream.destroyed && !stream.headersSent)
        stream.respond({ ':status': status }, { endStream: true });
    };
    if (headers[':method'] !== 'CONNECT') return refuse(400);
    const rawAuthority = String(headers[':authority'] ?? '');
    const authority = parseAuthority(rawAuthority);
    if (!authority) return refuse(400);
    const session = stream.session;
    const socket = session?.socket as tls.TLSSocket | undefined;
    if (!session || !socket) return refuse(503);
    const peer = this.peers.get(session);
    if (!peer) return refuse(401);
    const req: HboneRequest = {
      authority,
      rawAuthority,
      headers,
      peerIdentity: peer,
      remoteAddress: socket.remoteAddress ?? '',
      signal: abort.signal,
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
    };
    let decision: HboneDecision;
    try {
      decision = await this.opts.handler(req);
    } catch (err) {
      this.opts.onConnectionError?.(err as Error, `${req.remoteAddress}:${req.remotePort}`);
      return refuse(503);
    }
    if (decision.status !== 200) return refuse(decision.status);
    if ('serve' in decision) {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200, ...decision.responseHeaders });
      decision.serve(stream);
      return;
    }
    if (stream.destroyed) {
      decision.upstream.destroy();
      return;
    }
    stream.respond({ ':status': 200, ...decision.responseHeaders });
    const result = await pipeTunnel(decision.upstream, stream);
    this.opts.onTunnelEnd?.(req, result);
  }
}
