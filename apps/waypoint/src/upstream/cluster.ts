// An upstream cluster at run time — shared spec waypoint.md §2.2 (load balancing: LEAST_REQUEST
// by default as power of two choices, ROUND_ROBIN, RANDOM, RING_HASH on a request hash),
// §2.3 (circuit breakers: max_connections, max_pending_requests, max_requests, max_retries),
// §2.4 (outlier detection; panic mode when the healthy share falls below the threshold:
// Envoy's 50 % by default, Istio's minHealthPercent (0 = never) when outlier detection is set).
//
// Connections: HTTP/1.1 through one http.Agent per cluster (keep-alive, `maxTotalSockets` =
// max_connections, its queue is the pending queue); HTTP/2 (gRPC) through one multiplexed
// session per endpoint. Each connection is a tunnel the waypoint opens with `connect`
// (HBONE to the pod's ztunnel, or plain TCP to a pod outside the mesh).
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { envoy } from '@ambient/proto';
import { structToPlain } from '@ambient/proto';
import { asPlainDuplex } from './duplex.js';
import { OUTLIER_DEFAULTS, type OutlierConfig, OutlierDetector, type OutlierEvent } from './outlier.js';

export type LbPolicy = 'ROUND_ROBIN' | 'LEAST_REQUEST' | 'RANDOM' | 'RING_HASH';

export interface Endpoint {
  key: string;
  ip: string;
  port: number;
  healthy: boolean;
  /** SPIFFE identity the endpoint's ztunnel presents for it. */
  identity?: string;
  /** Reached over HBONE (the pod is in the mesh) or plain TCP. */
  hbone: boolean;
  workload: { name: string; namespace: string; canonical: string; revision: string; cluster: string };
  pod: string;
  active: number;
}

export type Connect = (ep: Endpoint, cluster: UpstreamCluster) => Promise<Duplex>;

const MAX_U32 = 4294967295;
const LB_NAMES: Record<number, LbPolicy> = {
  0: 'ROUND_ROBIN',
  1: 'LEAST_REQUEST',
  2: 'RING_HASH',
  3: 'RANDOM',
  5: 'RING_HASH',
};

function msOf(d: { seconds?: unknown; nanos?: number | null } | null | undefined, def: number): number {
  return d ? Number(d.seconds ?? 0) * 1000 + (d.nanos ?? 0) / 1e6 : def;
}

/** A request's claim on the cluster: release it exactly once when the request ends. */
export interface Admission {
  release(): void;
}

export class Overflow extends Error {
  constructor(readonly what: string) {
    super(`upstream overflow: ${what}`);
  }
}

export class UpstreamCluster {
  lbPolicy: LbPolicy = 'LEAST_REQUEST';
  maxConnections = MAX_U32;
  maxPending = MAX_U32;
  maxRequests = MAX_U32;
  maxRetries = MAX_U32;
  maxRequestsPerConnection = 0;
  connectTimeoutMs = 10_000;
  panicThreshold = 50;
  outlier: OutlierDetector | undefined;
  endpoints: Endpoint[] = [];
  host = '';
  serviceName = '';
  serviceNamespace = '';
  subset = '';
  private rr = 0;
  private ring: { hash: number; ep: Endpoint }[] = [];
  /** The endpoints the ring was built for (panic mode and ejections change the pool). */
  private ringKeys = '';
  private ringSize = 1024;
  /** Stats, as Envoy's upstream_rq_* / upstream_cx_* counters. */
  readonly stats = { activeRequests: 0, pendingRequests: 0, activeRetries: 0, overflows: 0, connections: 0 };
  private agent: TunnelAgent;
  private readonly h2 = new Map<string, Promise<http2.ClientHttp2Session>>();

  constructor(
    readonly name: string,
    private readonly connect: Connect,
    private readonly onOutlier?: (cluster: string, e: OutlierEvent) => void,
  ) {
    this.agent = new TunnelAgent(this);
  }

  /** Applies a Cluster resource (thresholds, LB, outlier detection). */
  applyCluster(c: envoy.config.cluster.v3.Cluster): void {
    this.lbPolicy = LB_NAMES[c.lbPolicy] ?? 'LEAST_REQUEST';
    const t = c.circuitBreakers?.thresholds.find((x) => x.priority === 0) ?? c.circuitBreakers?.thresholds[0];
    // Envoy's own defaults (1024/1024/1024/3) when a threshold is absent; Istio always sends them.
    this.maxConnections = t?.maxConnections?.value ?? 1024;
    this.maxPending = t?.maxPendingRequests?.value ?? 1024;
    this.maxRequests = t?.maxRequests?.value ?? 1024;
    this.maxRetries = t?.maxRetries?.value ?? 3;
    this.maxRequestsPerConnection = c.maxRequestsPerConnection?.value ?? 0;
    this.connectTimeoutMs = msOf(c.connectTimeout, 5000);
    this.ringSize = Number(c.ringHashLbConfig?.minimumRingSize?.value ?? 1024) || 1024;
    const meta = c.metadata?.filterMetadata.istio;
    if (meta) {
      const plain = structToPlain(meta) as {
        services?: { host?: string; name?: string; namespace?: string }[];
        subset?: string;
      };
      this.host = plain.services?.[0]?.host ?? '';
      this.serviceName = plain.services?.[0]?.name ?? '';
      this.serviceNamespace = plain.services?.[0]?.namespace ?? '';
      this.subset = plain.subset ?? '';
    }
    const od = c.outlierDetection;
    if (od) {
      const cfg: OutlierConfig = {
        ...OUTLIER_DEFAULTS,
        consecutive5xx: od.consecutive_5xx?.value ?? OUTLIER_DEFAULTS.consecutive5xx,
        enforcing5xx: od.enforcingConsecutive_5xx?.value ?? 100,
        consecutiveGateway: od.consecutiveGatewayFailure?.value ?? OUTLIER_DEFAULTS.consecutiveGateway,
        enforcingGateway: od.enforcingConsecutiveGatewayFailure?.value ?? 0,
        splitLocalOrigin: od.splitExternalLocalOriginErrors,
        consecutiveLocalOrigin: od.consecutiveLocalOriginFailure?.value ?? 5,
        intervalMs: msOf(od.interval, OUTLIER_DEFAULTS.intervalMs),
        baseEjectionMs: msOf(od.baseEjectionTime, OUTLIER_DEFAULTS.baseEjectionMs),
        maxEjectionPercent: od.maxEjectionPercent?.value ?? OUTLIER_DEFAULTS.maxEjectionPercent,
        maxEjectionMs: msOf(od.maxEjectionTime, OUTLIER_DEFAULTS.maxEjectionMs),
      };
      const restart = !this.outlier || this.outlier.config.intervalMs !== cfg.intervalMs;
      if (!this.outlier)
        this.outlier = new OutlierDetector(cfg, { onEvent: (e) => this.onOutlier?.(this.name, e) });
      else this.outlier.config = cfg;
      this.outlier.setHosts(this.endpoints.map((e) => e.key));
      if (restart) this.outlier.start();
    } else if (this.outlier) {
      this.outlier.stop();
      this.outlier = undefined;
    }
    this.panicThreshold = c.commonLbConfig?.healthyPanicThreshold
      ? c.commonLbConfig.healthyPanicThreshold.value
      : 50;
    this.agent.maxTotalSockets =
      this.maxConnections >= MAX_U32 ? Number.POSITIVE_INFINITY : this.maxConnections;
  }

  /** Applies a ClusterLoadAssignment; connections to endpoints that left are closed. */
  applyEndpoints(cla: envoy.config.endpoint.v3.ClusterLoadAssignment): void {
    const old = new Map(this.endpoints.map((e) => [e.key, e]));
    const next: Endpoint[] = [];
    for (const loc of cla.endpoints)
      for (const lb of loc.lbEndpoints) {
        const sa = lb.endpoint?.address?.socketAddress;
        if (!sa) continue;
        const key = `${sa.address}:${sa.portValue}`;
        const istio = lb.metadata?.filterMetadata.istio
          ? (structToPlain(lb.metadata.filterMetadata.istio) as Record<string, string>)
          : {};
        const [name = '', namespace = '', canonical = '', revision = '', cluster = ''] = (
          istio.workload ?? ''
        ).split(';');
        const tunnel = lb.metadata?.filterMetadata['envoy.transport_socket_match'];
        const ep: Endpoint = {
          key,
          ip: sa.address,
          port: sa.portValue ?? 0,
          // UNKNOWN (0) and HEALTHY (1) take traffic; UNHEALTHY, DRAINING, TIMEOUT do not.
          healthy: lb.healthStatus === 0 || lb.healthStatus === 1 || lb.healthStatus === 5,
          ...(istio.identity ? { identity: istio.identity } : {}),
          hbone: tunnel ? structToPlain(tunnel).tunnel === 'http' : false,
          workload: { name, namespace, canonical, revision, cluster },
          pod: istio.pod ?? name,
          active: old.get(key)?.active ?? 0,
        };
        next.push(ep);
      }
    const keep = new Set(next.map((e) => e.key));
    for (const [k, s] of this.h2) if (!keep.has(k)) void s.then((x) => x.close()).catch(() => {});
    for (const k of this.h2.keys()) if (!keep.has(k)) this.h2.delete(k);
    this.endpoints = next;
    this.outlier?.setHosts(next.map((e) => e.key));
    this.ring = [];
  }

  /**
   * Picks an endpoint: healthy and not ejected (all of them in panic mode), avoiding
   * `exclude` for up to `attempts` tries (retry previous-host predicate).
   */
  choose(
    hash: number | undefined,
    exclude: ReadonlySet<string> = new Set(),
    attempts = 1,
  ): Endpoint | undefined {
    const healthy = this.endpoints.filter((e) => e.healthy && !this.outlier?.isEjected(e.key));
    let pool = healthy;
    if (this.endpoints.length > 0 && (healthy.length / this.endpoints.length) * 100 < this.panicThreshold)
      pool = this.endpoints; // panic: balance across every host
    if (pool.length === 0) return undefined;
    let pick: Endpoint | undefined;
    for (let i = 0; i < Math.max(1, attempts); i++) {
      pick = this.pickOne(pool, hash === undefined ? undefined : hash + i * 0x9e3779b1);
      if (!exclude.has(pick.key)) return pick;
    }
    return pick;
  }

  private pickOne(pool: Endpoint[], hash: number | undefined): Endpoint {
    switch (this.lbPolicy) {
      case 'ROUND_ROBIN':
        return pool[this.rr++ % pool.length]!;
      case 'RANDOM':
        return pool[Math.floor(Math.random() * pool.length)]!;
      case 'RING_HASH': {
        if (hash === undefined) return pool[Math.floor(Math.random() * pool.length)]!;
        return this.ringPick(pool, hash);
      }
      default: {
        // Envoy's LEAST_REQUEST with equal weights: power of two random choices.
        if (pool.length === 1) return pool[0]!;
        const a = pool[Math.floor(Math.random() * pool.length)]!;
        const b = pool[Math.floor(Math.random() * pool.length)]!;
        return b.active < a.active ? b : a;
      }
    }
  }

  private ringPick(pool: Endpoint[], hash: number): Endpoint {
    const keys = pool.map((e) => e.key).join(',');
    if (this.ring.length === 0 || this.ringKeys !== keys) {
      const per = Math.ceil(this.ringSize / pool.length);
      const ring: { hash: number; ep: Endpoint }[] = [];
      for (const ep of pool)
        for (let i = 0; i < per; i++)
          ring.push({ hash: createHash('md5').update(`${ep.key}_${i}`).digest().readUInt32BE(0), ep });
      ring.sort((x, y) => x.hash - y.hash);
      this.ringKeys = keys;
      this.ring = ring;
    }
    const h = hash >>> 0;
    let lo = 0;
    let hi = this.ring.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ring[mid]!.hash < h) lo = mid + 1;
      else hi = mid;
    }
    return this.ring[lo % this.ring.length]!.ep;
  }

  /** Circuit breaker on concurrent requests; throws Overflow (503 UO) when full. */
  admit(): Admission {
    if (this.stats.activeRequests >= this.maxRequests) {
      this.stats.overflows++;
      throw new Overflow('max_requests');
    }
    return this.take('activeRequests');
  }

  /** Retry budget: false when max_retries concurrent retries are already running. */
  admitRetry(): Admission | undefined {
    if (this.stats.activeRetries >= this.maxRetries) return undefined;
    return this.take('activeRetries');
  }

  /** Counts one in `counter` until released (once, however often release is called). */
  private take(counter: 'activeRequests' | 'activeRetries'): Admission {
    this.stats[counter]++;
    let done = false;
    return {
      release: () => {
        if (done) return;
        done = true;
        this.stats[counter]--;
      },
    };
  }

  /**
   * An HTTP/1.1 request to an endpoint through the cluster's pool. Throws Overflow when the
   * request would have to wait for a connection and the pending queue is full.
   */
  http1Request(ep: Endpoint, options: http.RequestOptions): http.ClientRequest {
    const name = this.agent.getName({ host: ep.ip, port: ep.port });
    const free = this.agent.freeSockets[name]?.length ?? 0;
    const canOpen = this.stats.connections < this.maxConnections;
    if (free === 0 && !canOpen) {
      if (this.stats.pendingRequests >= this.maxPending) {
        this.stats.overflows++;
        throw new Overflow('max_pending_requests');
      }
    }
    this.stats.pendingRequests++;
    const req = http.request({ ...options, host: ep.ip, port: ep.port, agent: this.agent });
    let pending = true;
    const settle = () => {
      if (pending) {
        pending = false;
        this.stats.pendingRequests--;
      }
    };
    req.once('socket', settle);
    req.once('close', settle);
    return req;
  }

  /** The endpoint's HTTP/2 session (one per endpoint, multiplexed). */
  http2Session(ep: Endpoint): Promise<http2.ClientHttp2Session> {
    let s = this.h2.get(ep.key);
    if (!s) {
      s = this.connect(ep, this).then((tunnel) => {
        const socket =
          tunnel instanceof net.Socket ? tunnel : asPlainDuplex(tunnel, { allowHalfOpen: false });
        const session = http2.connect(`http://${ep.key}`, { createConnection: () => socket });
        session.on('error', () => {});
        session.once('close', () => {
          if (this.h2.get(ep.key) === s) this.h2.delete(ep.key);
        });
        session.once('goaway', () => {
          if (this.h2.get(ep.key) === s) this.h2.delete(ep.key);
        });
        return session;
      });
      s.catch(() => {
        if (this.h2.get(ep.key) === s) this.h2.delete(ep.key);
      });
      this.h2.set(ep.key, s);
    }
    return s;
  }

  /** Opens a tunnel for the agent (counts connections for max_connections). */
  openTunnel(ep: Endpoint): Promise<Duplex> {
    return this.connect(ep, this);
  }

  endpointByKey(key: string): Endpoint | undefined {
    return this.endpoints.find((e) => e.key === key);
  }

  close(): void {
    this.outlier?.stop();
    this.agent.destroy();
    for (const s of this.h2.values()) void s.then((x) => x.destroy()).catch(() => {});
    this.h2.clear();
  }

  snapshot() {
    return {
      name: this.name,
      lbPolicy: this.lbPolicy,
      circuitBreakers: {
        maxConnections: this.maxConnections,
        maxPendingRequests: this.maxPending,
        maxRequests: this.maxRequests,
        maxRetries: this.maxRetries,
      },
      stats: { ...this.stats },
      panicThreshold: this.panicThreshold,
      endpoints: this.endpoints.map((e) => ({
        address: e.key,
        healthy: e.healthy,
        hbone: e.hbone,
        identity: e.identity,
        active: e.active,
        ejected: this.outlier?.isEjected(e.key) ?? false,
      })),
      outlierDetection: this.outlier
        ? { config: this.outlier.config, hosts: this.outlier.snapshot() }
        : undefined,
    };
  }
}

/** http.Agent whose sockets are tunnels; keep-alive works on any duplex (documented hooks). */
class TunnelAgent extends http.Agent {
  constructor(private readonly cluster: UpstreamCluster) {
    // Idle tunnels are closed after a minute (Istio's idleTimeout default is 1 h; ours is shorter).
    super({ keepAlive: true, scheduling: 'lifo', timeout: 60_000 });
  }

  override createConnection(
    options: { host?: string | null; port?: number | string | null },
    cb: (err: Error | null, socket?: Duplex) => void,
  ): Duplex | undefined {
    const ep = this.cluster.endpointByKey(`${options.host}:${options.port}`);
    if (!ep) {
      cb(new Error(`endpoint ${options.host}:${options.port} left the cluster`));
      return undefined;
    }
    this.cluster.stats.connections++;
    let uses = 0;
    this.cluster.openTunnel(ep).then(
      (raw) => {
        const tunnel = raw instanceof net.Socket ? raw : asPlainDuplex(raw, { allowHalfOpen: false });
        tunnel.once('close', () => this.cluster.stats.connections--);
        (tunnel as Duplex & { uses?: () => number }).uses = () => ++uses;
        cb(null, tunnel);
      },
      (err: Error) => {
        this.cluster.stats.connections--;
        cb(err);
      },
    );
    return undefined;
  }

  /** Envoy's max_requests_per_connection: the connection closes after that many requests. */
  override keepSocketAlive(socket: Duplex): boolean {
    const max = this.cluster.maxRequestsPerConnection;
    const uses = (socket as Duplex & { uses?: () => number }).uses?.() ?? 0;
    if ((max > 0 && uses >= max) || socket.destroyed) return false;
    return (super.keepSocketAlive(socket as never) as unknown as boolean) !== false;
  }
}
