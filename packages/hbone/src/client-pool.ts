// HBONE client: a pool of HTTP/2 sessions over mutual TLS — shared spec ztunnel.md §1.3–1.5.
//
// - Pool key: {source identity, expected destination identities, dialled address, source IP};
// - at most `maxStreamsPerConnection` (100) streams per session (or fewer if the peer's
//   SETTINGS say so); a new session to the same key when all are full;
// - one connect in flight per key: concurrent first requests wait for it and share it;
// - sessions with no streams are released after 5 minutes;
// - keepalive PING every 10 s; no answer within 20 s → the session is dropped;
// - windows set explicitly (settings.ts).
// How the TCP socket is made is the caller's business (`dial`): in-pod it is created inside
// the pod's network namespace with SO_MARK; on loopback it is an ordinary socket.
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import { HboneError } from './errors.js';
import { formatAuthority } from './headers.js';
import { CONNECTION_WINDOW, clientSettings, type HboneTuning, MAX_SESSION_MEMORY_MB } from './settings.js';

export interface PoolKey {
  /** SPIFFE id of the source workload (the certificate this session presents). */
  srcIdentity: string;
  /** Identities the server may present (any one). */
  dstIdentities: readonly string[];
  /** Address dialled: podIP:15008 or waypointIP:15008. */
  dstIp: string;
  dstPort: number;
  /** Original source IP (sessions are not shared across source pods). */
  srcIp?: string;
}

export interface ConnectRequest {
  /** `ip:port` of the real destination (or the original VIP:port via a waypoint). */
  authority: string;
  headers?: Record<string, string>;
}

export interface HbonePoolOptions {
  /** TLS options for a key (certificate of srcIdentity, expected SANs). May wait for a certificate. */
  tlsFor(key: PoolKey): Promise<tls.ConnectionOptions> | tls.ConnectionOptions;
  /** Creates the TCP socket for a key, unconnected or connecting; default `net.connect`. */
  dial?(key: PoolKey): net.Socket;
  maxStreamsPerConnection?: number;
  idleTimeoutMs?: number;
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  connectTimeoutMs?: number;
  tuning?: HboneTuning;
}

interface PooledSession {
  session: http2.ClientHttp2Session;
  key: string;
  active: number;
  idleTimer?: NodeJS.Timeout;
  pingTimer?: NodeJS.Timeout;
  closed: boolean;
}

export interface PoolStats {
  keys: number;
  sessions: number;
  streams: number;
  sessionsOpened: number;
}

export class HbonePool {
  private readonly sessions = new Map<string, PooledSession[]>();
  private readonly connecting = new Map<string, Promise<PooledSession>>();
  private readonly maxStreams: number;
  private opened = 0;
  private closing = false;

  constructor(private readonly opts: HbonePoolOptions) {
    this.maxStreams = opts.maxStreamsPerConnection ?? 100;
  }

  static keyString(k: PoolKey): string {
    return `${k.srcIdentity}|${[...k.dstIdentities].sort().join(',')}|${formatAuthority(k.dstIp, k.dstPort)}|${k.srcIp ?? ''}`;
  }

  /**
   * Opens a CONNECT stream; resolves once the peer answered 200. Rejects with HboneError
   * (`CONNECT_REFUSED` with the status, `DIAL`, `TIMEOUT`, `H2`).
   */
  async connect(key: PoolKey, req: ConnectRequest): Promise<Duplex> {
    if (this.closing) throw new HboneError('DRAINING', 'HBONE pool is shutting down');
    const pooled = await this.checkout(key);
    return this.openStream(pooled, req);
  }

  stats(): PoolStats {
    let sessions = 0;
    let streams = 0;
    for (const list of this.sessions.values()) {
      sessions += list.length;
      for (const s of list) streams += s.active;
    }
    return { keys: this.sessions.size, sessions, streams, sessionsOpened: this.opened };
  }

  /** Graceful: GOAWAY on every session; open streams finish. */
  close(): void {
    this.closing = true;
    for (const list of this.sessions.values()) for (const s of list) this.retire(s, false);
  }

  /** Immediate: every session destroyed. */
  destroy(): void {
    this.closing = true;
    for (const list of this.sessions.values()) for (const s of list) this.retire(s, true);
  }

  /**
   * Returns a session with a stream slot reserved for the caller. The check and the
   * reservation happen in the same synchronous step, so concurrent callers cannot all
   * take the last slot.
   */
  private async checkout(key: PoolKey): Promise<PooledSession> {
    const k = HbonePool.keyString(key);
    for (;;) {
      const usable = this.sessions.get(k)?.find((s) => !s.closed && s.active < this.limit(s));
      if (usable) return this.reserve(usable);
      // One connect in flight per key; the others wait for it, then look again.
      const inFlight = this.connecting.get(k);
      if (inFlight) {
        await inFlight.catch(() => undefined);
        continue;
      }
      const p = this.newSession(key, k);
      this.connecting.set(k, p);
      try {
        return this.reserve(await p);
      } finally {
        this.connecting.delete(k);
      }
    }
  }

  private reserve(s: PooledSession): PooledSession {
    s.active++;
    if (s.idleTimer) {
      clearTimeout(s.idleTimer);
      s.idleTimer = undefined;
    }
    return s;
  }

  private limit(s: PooledSession): number {
    const peer = s.session.remoteSettings?.maxConcurrentStreams;
    return Math.min(this.maxStreams, peer && peer > 0 ? peer : this.maxStreams);
  }

  private async newSession(key: PoolKey, k: string): Promise<PooledSession> {
    const tlsOpts = await this.opts.tlsFor(key);
    const timeoutMs = this.opts.connectTimeoutMs ?? 10_000;
    const raw = this.opts.dial ? this.opts.dial(key) : net.connect({ host: key.dstIp, port: key.dstPort });
    raw.setNoDelay(true);
    const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const t = tls.connect({ ...tlsOpts, socket: raw });
      const timer = setTimeout(() => {
        t.destroy();
        reject(
          new HboneError(
            'TIMEOUT',
            `connect to ${formatAuthority(key.dstIp, key.dstPort)} timed out after ${timeoutMs} ms — is a NetworkPolicy blocking HBONE port 15008?`,
          ),
        );
      }, timeoutMs);
      t.once('secureConnect', () => {
        clearTimeout(timer);
        resolve(t);
      });
      t.once('error', (err) => {
        clearTimeout(timer);
        reject(
          new HboneError(
            'DIAL',
            `HBONE connection to ${formatAuthority(key.dstIp, key.dstPort)} failed: ${err.message}`,
            undefined,
            { cause: err },
          ),
        );
      });
    });
    const session = http2.connect(`http://${formatAuthority(key.dstIp, key.dstPort)}`, {
      createConnection: () => socket,
      settings: clientSettings(this.opts.tuning),
      maxSessionMemory: MAX_SESSION_MEMORY_MB,
    });
    const pooled: PooledSession = { session, key: k, active: 0, closed: false };
    await new Promise<void>((resolve, reject) => {
      session.once('connect', () => {
        session.setLocalWindowSize(this.opts.tuning?.connectionWindow ?? CONNECTION_WINDOW);
        resolve();
      });
      session.once('error', (err) =>
        reject(new HboneError('H2', `HTTP/2 handshake failed: ${err.message}`, undefined, { cause: err })),
      );
      // The peer may drop the connection after TLS (TLS 1.3 lets the client finish first),
      // e.g. when it refuses our trust domain.
      session.once('close', () =>
        reject(
          new HboneError(
            'H2',
            `${formatAuthority(key.dstIp, key.dstPort)} closed the connection during the HTTP/2 handshake`,
          ),
        ),
      );
    });
    session.on('error', () => this.retire(pooled, true));
    session.on('close', () => this.retire(pooled, true));
    session.on('goaway', () => this.retire(pooled, false));
    this.startPings(pooled);
    const list = this.sessions.get(k) ?? [];
    list.push(pooled);
    this.sessions.set(k, list);
    this.opened++;
    this.armIdle(pooled);
    return pooled;
  }

  /** Opens a stream on a session whose slot `checkout` reserved. */
  private openStream(pooled: PooledSession, req: ConnectRequest): Promise<Duplex> {
    const stream = pooled.session.request(
      { ':method': 'CONNECT', ':authority': req.authority, ...req.headers },
      { endStream: false },
    );
    stream.once('close', () => {
      pooled.active--;
      this.armIdle(pooled);
    });
    return new Promise((resolve, reject) => {
      stream.once('response', (headers) => {
        const status = Number(headers[':status']);
        if (status === 200) {
          stream.off('error', onError);
          resolve(stream);
        } else {
          stream.close();
          reject(new HboneError('CONNECT_REFUSED', `${req.authority}: peer answered HTTP ${status}`, status));
        }
      });
      const onError = (err: Error) =>
        reject(
          new HboneError('H2', `CONNECT ${req.authority} failed: ${err.message}`, undefined, { cause: err }),
        );
      stream.once('error', onError);
      // Closed before any response (session torn down, RST_STREAM): a failure, not a hang.
      stream.once('close', () =>
        reject(new HboneError('H2', `CONNECT ${req.authority}: stream closed before a response`)),
      );
    });
  }

  private armIdle(s: PooledSession): void {
    if (s.active > 0 || s.closed) return;
    s.idleTimer = setTimeout(() => this.retire(s, false), this.opts.idleTimeoutMs ?? 300_000);
    s.idleTimer.unref();
  }

  private startPings(s: PooledSession): void {
    const interval = this.opts.pingIntervalMs ?? 10_000;
    const timeout = this.opts.pingTimeoutMs ?? 20_000;
    s.pingTimer = setInterval(() => {
      if (s.closed) return;
      const deadline = setTimeout(() => this.retire(s, true), timeout);
      deadline.unref();
      try {
        s.session.ping(() => clearTimeout(deadline));
      } catch {
        clearTimeout(deadline);
      }
    }, interval);
    s.pingTimer.unref();
  }

  private retire(s: PooledSession, destroy: boolean): void {
    if (!s.closed) {
      s.closed = true;
      if (s.idleTimer) clearTimeout(s.idleTimer);
      if (s.pingTimer) clearInterval(s.pingTimer);
      const list = this.sessions.get(s.key)?.filter((x) => x !== s) ?? [];
      if (list.length > 0) this.sessions.set(s.key, list);
      else this.sessions.delete(s.key);
    }
    if (destroy) s.session.destroy();
    else if (!s.session.closed) s.session.close();
  }
}
