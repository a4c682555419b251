// The ADS server: Delta and State-of-the-World streams fed by a ResourceCache — shared
// spec ztunnel.md §3.1 (Delta semantics, wildcard and explicit subscriptions, resume with
// initial_resource_versions, removals as removed_resources).
//
// Each connection keeps, per type, what the proxy has (name → version, as the server last
// sent or as the proxy declared on resume) and its ACK/NACK history — that is what
// `ambientctl proxy-status` shows. Cache changes are debounced and then pushed to each
// connection on its own: a proxy that stops reading only delays itself.
import { randomUUID } from 'node:crypto';
import { type envoy, protobuf, structToPlain } from '@ambient/proto';
import * as grpc from '@grpc/grpc-js';
import { adsServiceDefinition, type DeltaRequest, type SotwRequest } from '../grpc-service.js';
import type { ResourceCache } from './resource-cache.js';

export interface ProxyInfo {
  id: string;
  metadata: Record<string, unknown>;
  peer: string;
  /** Who the stream authenticated as (the `authenticate` hook's answer), when there is a hook. */
  caller?: string;
}

/** An authenticated stream's caller, and what it may connect as. */
export interface XdsCaller {
  /** Shown in proxy status and logs (e.g. `ambient-system/ztunnel@node1`). */
  name: string;
  /** Undefined when the caller may connect as this proxy; otherwise why not. */
  refuse?(proxy: ProxyInfo): string | undefined;
}

/** Thrown (or rejected) by an `authenticate` hook: the stream ends with this gRPC status. */
export class XdsAuthError extends Error {
  constructor(
    readonly status: grpc.status.UNAUTHENTICATED | grpc.status.PERMISSION_DENIED,
    message: string,
  ) {
    super(message);
    this.name = 'XdsAuthError';
  }
}

export interface XdsServerOptions {
  cache: ResourceCache;
  /** Cache changes within this window are sent together (default 50 ms). */
  debounceMs?: number;
  /** Which resources a proxy may see (default: all). */
  scope?: (proxy: ProxyInfo, typeUrl: string, name: string) => boolean;
  log?: (level: 'info' | 'warn' | 'debug', msg: string, fields?: Record<string, unknown>) => void;
  /** Called when a proxy ACKs a push: seconds from the cache change that caused it to the ACK. */
  onAck?: (proxy: ProxyInfo, typeUrl: string, seconds: number) => void;
  /**
   * Authenticates every stream before its first request is read (Istio: the bearer token in
   * `authorization`, verified). Rejecting ends the stream: UNAUTHENTICATED, or the status of
   * an XdsAuthError. Without a hook every caller is served (tests, fake control planes).
   */
  authenticate?: (request: { authorization: string; peer: string }) => Promise<XdsCaller>;
  /** Override XDS_LIMITS (tests). */
  limits?: Partial<typeof XDS_LIMITS>;
}

export interface NackRecord {
  nonce: string;
  message: string;
  at: string;
}

export interface TypeStatus {
  typeUrl: string;
  subscription: 'wildcard' | string[];
  /** Resources the proxy holds, per the server's view. */
  resources: number;
  /** Resources sent on this stream so far (resends after a resume are counted here). */
  sent: number;
  sentNonce?: string;
  ackedNonce?: string;
  acks: number;
  nacks: number;
  lastNack?: NackRecord;
  /** Version the proxy acked last: SotW version_info, or the count of acked Delta responses. */
  ackedVersion?: string;
}

export interface ConnectionStatus {
  connectionId: string;
  protocol: 'delta' | 'sotw';
  proxy: ProxyInfo;
  connectedAt: string;
  types: TypeStatus[];
}

interface TypeState {
  wildcard: boolean;
  names: Set<string>;
  /** name → version the proxy holds. */
  held: Map<string, string>;
  /** Explicitly subscribed names already reported absent. */
  toldAbsent: Set<string>;
  sentNonce?: string;
  ackedNonce?: string;
  acks: number;
  nacks: number;
  sent: number;
  lastNack?: NackRecord;
  /** SotW: version_info of the last response sent / acked. */
  sotwVersion?: string;
  ackedVersion?: string;
  /** When the change behind the last push happened (for the convergence measure). */
  changeAt?: number;
}

const EMPTY_PROXY: ProxyInfo = { id: '', metadata: {}, peer: '' };

/**
 * Names one request may subscribe or unsubscribe, and names one stream may hold subscribed
 * per type. istiod has no such limit beyond gRPC's 4 MiB message (≈ 100k names); a ztunnel in
 * on-demand mode asks for names a few at a time, and wildcard subscribers name none. Over a
 * limit the stream ends with RESOURCE_EXHAUSTED naming it: no proxy of ours comes near.
 */
export const XDS_LIMITS: { readonly namesPerRequest: number; readonly subscriptionsPerType: number } = {
  namesPerRequest: 10_000,
  subscriptionsPerType: 100_000,
};

abstract class Connection {
  readonly id = randomUUID().slice(0, 8);
  readonly connectedAt = new Date().toISOString();
  proxy: ProxyInfo = EMPTY_PROXY;
  protected readonly types = new Map<string, TypeState>();
  private readonly dirty = new Set<string>();
  private blocked = false;
  private nonceSeq = 0;
  closed = false;

  constructor(
    protected readonly server: XdsServer,
    protected readonly call: grpc.ServerDuplexStream<DeltaRequest | SotwRequest, Buffer>,
    readonly protocol: 'delta' | 'sotw',
  ) {
    call.on('drain', () => {
      this.blocked = false;
      this.flush();
    });
  }

  markDirty(typeUrl: string): void {
    if (this.types.has(typeUrl)) this.dirty.add(typeUrl);
  }

  /** Pushes every dirty type, unless the proxy has not read the previous push yet. */
  flush(): void {
    if (this.closed || this.blocked) return;
    for (const typeUrl of [...this.dirty]) {
      this.dirty.delete(typeUrl);
      const st = this.types.get(typeUrl);
      if (!st) continue;
      const bytes = this.buildPush(typeUrl, st, false);
      if (bytes) st.changeAt = this.server.lastChangeAt;
      if (bytes && !this.write(bytes)) return;
    }
  }

  protected write(bytes: Uint8Array): boolean {
    const ok = this.call.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    if (!ok) this.blocked = true;
    return ok;
  }

  protected nextNonce(): string {
    this.nonceSeq += 1;
    return `${this.id}-${this.nonceSeq}`;
  }

  protected visible(typeUrl: string, name: string): boolean {
    return this.server.visible(this.proxy, typeUrl, name);
  }

  protected recordAck(
    st: TypeState,
    nonce: string,
    errorDetail: { message: string } | null | undefined,
  ): void {
    if (!nonce) return;
    if (errorDetail) {
      st.nacks += 1;
      st.lastNack = { nonce, message: errorDetail.message, at: new Date().toISOString() };
      this.server.logger('warn', 'proxy rejected configuration (NACK)', {
        proxy: this.proxy.id,
        nonce,
        error: errorDetail.message,
      });
    } else {
      st.acks += 1;
      if (st.changeAt !== undefined && nonce === st.sentNonce && st.ackedNonce !== nonce) {
        this.server.observeAck(this.proxy, this.typeOf(st), (performance.now() - st.changeAt) / 1000);
      }
      st.ackedNonce = nonce;
      if (st.sotwVersion !== undefined) st.ackedVersion = st.sotwVersion;
    }
  }

  protected sendNow(typeUrl: string, st: TypeState, initial: boolean): void {
    // The proxy may be blocked on an earlier push: then this one waits in `dirty`.
    if (this.blocked) {
      this.dirty.add(typeUrl);
      return;
    }
    const bytes = this.buildPush(typeUrl, st, initial);
    if (bytes) this.write(bytes);
  }

  protected abstract buildPush(typeUrl: string, st: TypeState, initial: boolean): Uint8Array | undefined;

  status(): ConnectionStatus {
    return {
      connectionId: this.id,
      protocol: this.protocol,
      proxy: this.proxy,
      connectedAt: this.connectedAt,
      types: [...this.types].map(([typeUrl, st]) => ({
        typeUrl,
        subscription: st.wildcard ? 'wildcard' : [...st.names].sort(),
        resources: st.held.size,
        sent: st.sent,
        ...(st.sentNonce ? { sentNonce: st.sentNonce } : {}),
        ...(st.ackedNonce ? { ackedNonce: st.ackedNonce } : {}),
        acks: st.acks,
        nacks: st.nacks,
        ...(st.lastNack ? { lastNack: st.lastNack } : {}),
        ...(st.ackedVersion ? { ackedVersion: st.ackedVersion } : {}),
      })),
    };
  }

  /** The authenticated caller, when the server authenticates streams. */
  caller?: XdsCaller;

  /** Records who the proxy says it is; false (and the stream ended) when its caller may not be it. */
  protected setProxy(node: envoy.config.core.v3.Node | null | undefined): boolean {
    if (this.proxy !== EMPTY_PROXY) return true;
    if (!node) {
      // An authenticated stream must say who it is before it is served anything.
      if (!this.caller) return true;
      return this.refuse('the first request of a stream must carry the node');
    }
    this.proxy = {
      id: node.id,
      metadata: structToPlain(node.metadata),
      peer: this.call.getPeer(),
      ...(this.caller ? { caller: this.caller.name } : {}),
    };
    const refused = this.caller?.refuse?.(this.proxy);
    if (refused) return this.refuse(refused);
    this.server.logger('info', 'proxy connected', {
      proxy: node.id,
      protocol: this.protocol,
      connection: this.id,
      ...(this.caller ? { caller: this.caller.name } : {}),
    });
    return true;
  }

  /** Ends the stream: the proxy asked for more than the server bounds. */
  protected exhausted(reason: string): void {
    this.server.logger('warn', 'xDS request over a limit', { proxy: this.proxy.id, error: reason });
    this.closed = true;
    this.call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: reason });
  }

  private refuse(reason: string): false {
    this.server.logger('warn', 'xDS stream refused', {
      proxy: this.proxy.id,
      caller: this.caller?.name,
      error: reason,
    });
    this.closed = true;
    this.call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: reason });
    return false;
  }

  protected typeOf(st: TypeState): string {
    for (const [typeUrl, x] of this.types) if (x === st) return typeUrl;
    return '';
  }

  protected newTypeState(wildcard: boolean): TypeState {
    return { wildcard, names: new Set(), held: new Map(), toldAbsent: new Set(), acks: 0, nacks: 0, sent: 0 };
  }
}

class DeltaConnection extends Connection {
  handle(req: envoy.service.discovery.v3.DeltaDiscoveryRequest): void {
    if (!this.setProxy(req.node)) return;
    const typeUrl = req.typeUrl;
    let st = this.types.get(typeUrl);
    const initial = st === undefined;
    if (!st) {
      // First request of a type on this stream: an empty subscribe list means wildcard
      // (legacy form); `initial_resource_versions` says what the proxy already holds.
      st = this.newTypeState(req.resourceNamesSubscribe.length === 0);
      for (const [name, version] of Object.entries(req.initialResourceVersions)) st.held.set(name, version);
      this.types.set(typeUrl, st);
    }
    this.recordAck(st, req.responseNonce, req.errorDetail);
    const asked = req.resourceNamesSubscribe.length + req.resourceNamesUnsubscribe.length;
    if (asked > this.server.limits.namesPerRequest) {
      this.exhausted(
        `a request names ${asked} resources; the limit is ${this.server.limits.namesPerRequest}`,
      );
      return;
    }
    let changed = initial;
    for (const name of req.resourceNamesSubscribe) {
      changed = true;
      if (name === '*') st.wildcard = true;
      else {
        st.names.add(name);
        st.toldAbsent.delete(name);
        // The server must answer every name in a subscribe list, even if the proxy has it.
        if (!initial) st.held.delete(name);
      }
    }
    for (const name of req.resourceNamesUnsubscribe) {
      changed = true;
      if (name === '*') st.wildcard = false;
      else {
        st.names.delete(name);
        st.held.delete(name);
        st.toldAbsent.delete(name);
      }
    }
    if (st.names.size > this.server.limits.subscriptionsPerType) {
      this.exhausted(
        `${st.names.size} names subscribed for ${typeUrl}; the limit is ${this.server.limits.subscriptionsPerType}`,
      );
      return;
    }
    if (changed) this.sendNow(typeUrl, st, initial);
  }

  protected buildPush(typeUrl: string, st: TypeState, initial: boolean): Uint8Array | undefined {
    const cache = this.server.cache.all(typeUrl);
    const w = protobuf.Writer.create();
    let count = 0;
    const wanted = (name: string) => (st.wildcard || st.names.has(name)) && this.visible(typeUrl, name);
    const candidates = st.wildcard ? cache.keys() : st.names.values();
    for (const name of candidates) {
      const res = cache.get(name);
      if (!res || !wanted(name) || st.held.get(name) === res.version) continue;
      w.uint32(18).bytes(res.deltaBytes);
      st.held.set(name, res.version);
      count++;
      st.sent++;
    }
    // A set: a request naming K absent resources must cost O(K), not O(K²).
    const removed = new Set<string>();
    for (const name of [...st.held.keys()]) {
      if (cache.has(name) && wanted(name)) continue;
      st.held.delete(name);
      removed.add(name);
    }
    // Explicitly subscribed names that do not exist: say so once, so `fetch` can finish.
    for (const name of st.names) {
      if (!cache.has(name) && !st.toldAbsent.has(name) && !removed.has(name)) {
        st.toldAbsent.add(name);
        removed.add(name);
      }
    }
    if (count === 0 && removed.size === 0 && !initial) return undefined;
    const nonce = this.nextNonce();
    st.sentNonce = nonce;
    w.uint32(34).string(typeUrl).uint32(42).string(nonce);
    for (const name of removed) w.uint32(50).string(name);
    return w.finish();
  }
}

class SotwConnection extends Connection {
  handle(req: envoy.service.discovery.v3.DiscoveryRequest): void {
    if (!this.setProxy(req.node)) return;
    const typeUrl = req.typeUrl;
    let st = this.types.get(typeUrl);
    const initial = st === undefined;
    if (!st) {
      st = this.newTypeState(req.resourceNames.length === 0);
      this.types.set(typeUrl, st);
    }
    this.recordAck(st, req.responseNonce, req.errorDetail);
    if (req.resourceNames.length > this.server.limits.subscriptionsPerType) {
      this.exhausted(
        `a request names ${req.resourceNames.length} resources; the limit is ${this.server.limits.subscriptionsPerType}`,
      );
      return;
    }
    const names = new Set(req.resourceNames.filter((n) => n !== '*'));
    const wildcard = req.resourceNames.length === 0 || req.resourceNames.includes('*');
    const changed =
      initial ||
      wildcard !== st.wildcard ||
      names.size !== st.names.size ||
      [...names].some((n) => !st.names.has(n)); // O(K): Set lookups
    st.wildcard = wildcard;
    st.names = names;
    if (changed) this.sendNow(typeUrl, st, initial || changed);
  }

  protected buildPush(typeUrl: string, st: TypeState, force: boolean): Uint8Array | undefined {
    const cache = this.server.cache.all(typeUrl);
    const selected: { name: string; version: string; anyBytes: Uint8Array }[] = [];
    for (const [name, res] of cache) {
      if ((st.wildcard || st.names.has(name)) && this.visible(typeUrl, name)) selected.push(res);
    }
    selected.sort((a, b) => (a.name < b.name ? -1 : 1));
    const version = selected.length === 0 ? 'empty' : hashVersions(selected);
    if (!force && version === st.sotwVersion) return undefined;
    st.sotwVersion = version;
    st.held = new Map(selected.map((r) => [r.name, r.version]));
    st.sent += selected.length;
    const nonce = this.nextNonce();
    st.sentNonce = nonce;
    const w = protobuf.Writer.create().uint32(10).string(version);
    for (const r of selected) w.uint32(18).bytes(r.anyBytes);
    w.uint32(34).string(typeUrl).uint32(42).string(nonce);
    return w.finish();
  }
}

function hashVersions(items: { name: string; version: string }[]): string {
  // FNV-1a over name=version pairs: cheap, and stable for the same set.
  let h = 0x811c9dc5;
  for (const { name, version } of items) {
    const s = `${name}=${version};`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h.toString(16).padStart(8, '0');
}

export class XdsServer {
  readonly cache: ResourceCache;
  private readonly debounceMs: number;
  private readonly scope?: XdsServerOptions['scope'];
  private readonly log: NonNullable<XdsServerOptions['log']>;
  private readonly conns = new Set<Connection>();
  private grpcServer?: grpc.Server;
  private timer: NodeJS.Timeout | undefined;
  private readonly unsubscribe: () => void;
  /** Pushes sent to proxies since start (each flush of a dirty type counts once per proxy). */
  pushes = 0;
  /** When the cache last changed (performance.now()). */
  lastChangeAt = performance.now();
  private readonly onAck: XdsServerOptions['onAck'];
  private readonly authenticate: XdsServerOptions['authenticate'];
  readonly limits: typeof XDS_LIMITS;

  observeAck(proxy: ProxyInfo, typeUrl: string, seconds: number): void {
    this.onAck?.(proxy, typeUrl, seconds);
  }

  constructor(opts: XdsServerOptions) {
    this.cache = opts.cache;
    this.debounceMs = opts.debounceMs ?? 50;
    this.scope = opts.scope;
    this.log = opts.log ?? (() => {});
    this.onAck = opts.onAck;
    this.authenticate = opts.authenticate;
    this.limits = { ...XDS_LIMITS, ...opts.limits };
    this.unsubscribe = this.cache.onChange((change) => {
      this.lastChangeAt = performance.now();
      for (const c of this.conns) c.markDirty(change.typeUrl);
      this.schedule();
    });
  }

  logger(level: 'info' | 'warn' | 'debug', msg: string, fields?: Record<string, unknown>): void {
    this.log(level, msg, fields);
  }

  visible(proxy: ProxyInfo, typeUrl: string, name: string): boolean {
    return this.scope ? this.scope(proxy, typeUrl, name) : true;
  }

  /** The handlers, for adding ADS to a grpc.Server you own (e.g. beside the CA service). */
  get implementation(): grpc.UntypedServiceImplementation {
    return {
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaRequest, Buffer>) =>
        this.serve(call as grpc.ServerDuplexStream<DeltaRequest | SotwRequest, Buffer>, 'delta'),
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<SotwRequest, Buffer>) =>
        this.serve(call as grpc.ServerDuplexStream<DeltaRequest | SotwRequest, Buffer>, 'sotw'),
    };
  }

  addTo(server: grpc.Server): void {
    server.addService(adsServiceDefinition, this.implementation);
  }

  /** Starts a gRPC server of its own; resolves with the bound port. */
  async listen(address: string, credentials = grpc.ServerCredentials.createInsecure()): Promise<number> {
    const server = new grpc.Server({ 'grpc.max_send_message_length': 200 * 1024 * 1024 });
    this.addTo(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, credentials, (err, p) => (err ? reject(err) : resolve(p))),
    );
    this.grpcServer = server;
    return port;
  }

  /** Marks a type dirty for every connection and pushes now (used after a scope change). */
  pushAll(typeUrl: string): void {
    for (const c of this.conns) c.markDirty(typeUrl);
    this.schedule();
  }

  connections(): ConnectionStatus[] {
    return [...this.conns].map((c) => c.status());
  }

  async close(): Promise<void> {
    this.unsubscribe();
    if (this.timer) clearTimeout(this.timer);
    const server = this.grpcServer;
    if (!server) return;
    for (const c of this.conns) c.closed = true;
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, 1000);
      server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
      // Open streams would hold tryShutdown until the deadline; end them now.
      server.forceShutdown();
    });
  }

  private serve(
    call: grpc.ServerDuplexStream<DeltaRequest | SotwRequest, Buffer>,
    protocol: 'delta' | 'sotw',
  ): void {
    const conn =
      protocol === 'delta'
        ? new DeltaConnection(this, call, 'delta')
        : new SotwConnection(this, call, 'sotw');
    // Requests that arrive while the stream is being authenticated wait here, in order.
    let pending: (DeltaRequest | SotwRequest)[] | undefined = this.authenticate ? [] : undefined;
    const done = () => {
      pending = undefined;
      if (!this.conns.delete(conn)) return;
      conn.closed = true;
      this.log('info', 'proxy disconnected', { proxy: conn.proxy.id, connection: conn.id });
    };
    const handle = (req: DeltaRequest | SotwRequest) => {
      if (conn.closed) return;
      try {
        if (conn instanceof DeltaConnection) conn.handle(req as DeltaRequest);
        else (conn as SotwConnection).handle(req as SotwRequest);
      } catch (err) {
        this.log('warn', 'bad xDS request', { proxy: conn.proxy.id, error: (err as Error).message });
        call.destroy(err as Error);
      }
    };
    call.on('data', (req: DeltaRequest | SotwRequest) => {
      if (pending) pending.push(req);
      else handle(req);
    });
    call.on('end', () => {
      done();
      call.end();
    });
    call.on('error', done);
    call.on('cancelled', done);
    call.on('close', done);
    if (!this.authenticate) {
      this.conns.add(conn);
      return;
    }
    const authorization = String(call.metadata.get('authorization')[0] ?? '');
    this.authenticate({ authorization, peer: call.getPeer() }).then(
      (caller) => {
        if (!pending) return; // the stream ended meanwhile
        conn.caller = caller;
        this.conns.add(conn);
        const queued = pending;
        pending = undefined;
        for (const req of queued) handle(req);
      },
      (err: unknown) => {
        if (!pending) return;
        pending = undefined;
        const status = err instanceof XdsAuthError ? err.status : grpc.status.UNAUTHENTICATED;
        const details = (err as Error).message;
        this.log('warn', 'xDS stream refused', { peer: call.getPeer(), error: details });
        conn.closed = true;
        call.emit('error', { code: status, details });
      },
    );
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushEach([...this.conns]);
    }, this.debounceMs);
  }

  /**
   * One connection's push per turn of the event loop: a change pushed to many proxies yields
   * between them, so other streams' requests and the CA are served in between.
   */
  private flushEach(conns: Connection[], i = 0): void {
    for (; i < conns.length; i++) {
      const c = conns[i]!;
      if (c.closed) continue;
      c.flush();
      this.pushes++;
      if (i + 1 < conns.length) {
        setImmediate(() => this.flushEach(conns, i + 1));
        return;
      }
    }
  }
}
