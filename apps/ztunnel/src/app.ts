// The node agent, wired: state sources → state; certificates; the HBONE pool; the proxy
// roles; admin, stats and readiness servers. `start` binds every listener — a bind error
// fails start-up, not a later request — and `drain` stops it gracefully (spec §8).
import net from 'node:net';
import { HbonePool, HboneServer } from '@ambient/hbone';
import {
  clientTlsOptions,
  Identity,
  type SecretManager,
  serverSecureContextOptions,
  serverTlsOptions,
  type WorkloadCertificate,
} from '@ambient/mtls';
import { findPodNetns } from '@ambient/netsys';
import {
  AccessLog,
  type BoundServer,
  createLogger,
  type Logger,
  Readiness,
  Registry,
  registerBuildInfo,
  startAdminServer,
  startReadinessServer,
  startStatsServer,
  TcpMetrics,
  XdsMetrics,
} from '@ambient/telemetry';
import type { XdsClient } from '@ambient/xds';
import { InPodSockets, type PodListeners, startPodCapture, stopPodCapture } from './capture/inpod.js';
import { type Config, publicConfig } from './config.js';
import { createSecretManager } from './identity/certificates.js';
import { ConnectionTracker } from './proxy/connection-tracker.js';
import { Inbound } from './proxy/inbound.js';
import { handleInboundPlaintext } from './proxy/inbound-plaintext.js';
import { Outbound } from './proxy/outbound.js';
import { loopbackSockets, type SocketFactory } from './proxy/sockets.js';
import { dnsResolve, readSocksRequest, refuseSocks } from './proxy/socks5.js';
import { ConnectionTelemetry } from './proxy/telemetry.js';
import type { LocalConfig } from './state/local-config.js';
import { normalizeIp, ProxyState } from './state/proxy-state.js';
import { type Workload, workloadIdentity } from './state/types.js';
import { startXdsSource } from './state/xds-source.js';

/** Readiness task of one local pod: pending until its listeners are open. */
function podTask(w: Workload): string {
  return `pod ${w.namespace}/${w.name}`;
}

export interface ZtunnelOptions {
  sockets?: SocketFactory;
  logDestination?: NodeJS.WritableStream;
  /** Called after a drain requested through POST /quitquitquit has finished. */
  onQuit?: () => void;
}

interface LocalListeners {
  workload: Workload;
  identity: string;
  servers: HboneServer[];
  /** In-pod mode: the pod's capture (rules + 15001/15006/15008 inside its namespace). */
  capture?: PodListeners;
}

export class Ztunnel {
  readonly state = new ProxyState();
  readonly readiness = new Readiness();
  readonly registry = new Registry();
  readonly logger: Logger;
  private readonly servers: BoundServer[] = [];
  private readonly local = new Map<string, LocalListeners>();
  private secrets!: SecretManager;
  private closeSecrets = () => {};
  private pool!: HbonePool;
  private inbound!: Inbound;
  private outbound!: Outbound;
  private tracker!: ConnectionTracker;
  private telemetry!: ConnectionTelemetry;
  private xds?: XdsClient;
  private localConfig?: LocalConfig;
  private socks?: net.Server;
  private reconciling = Promise.resolve();
  private draining = false;
  private stateLoaded = false;
  /** Readiness tasks of local pods whose network namespace is not known yet. */
  private pendingPods = new Set<string>();
  private readonly sockets: SocketFactory;

  private constructor(
    readonly config: Config,
    private readonly opts: ZtunnelOptions,
  ) {
    this.logger = createLogger({
      component: 'ztunnel',
      level: config.logLevel as never,
      ...(opts.logDestination ? { destination: opts.logDestination } : {}),
    });
    this.sockets =
      opts.sockets ?? (config.capture === 'inpod' ? new InPodSockets(this.logger) : loopbackSockets);
  }

  static async start(config: Config, opts: ZtunnelOptions = {}): Promise<Ztunnel> {
    const z = new Ztunnel(config, opts);
    try {
      await z.init();
    } catch (err) {
      await z.stop();
      throw err;
    }
    return z;
  }

  private async init(): Promise<void> {
    const c = this.config;
    registerBuildInfo(this.registry, 'ztunnel', c.version);
    const tcpMetrics = new TcpMetrics(this.registry);
    const telemetry = new ConnectionTelemetry(tcpMetrics, new AccessLog(this.logger));
    this.telemetry = telemetry;
    const stateReady = this.readiness.register('state manager');
    this.readiness.register('proxy');

    if (c.localXds) {
      // Loaded only in local mode: its YAML parser and schemas are a tenth of an idle ztunnel's memory.
      const { parseLocalConfig } = await import('./state/local-config.js');
      this.localConfig = parseLocalConfig(c.localXds.text, c.localXds.source);
      for (const w of this.localConfig.workloads) this.state.upsertWorkload(w);
      for (const s of this.localConfig.services) this.state.upsertService(s);
      for (const p of this.localConfig.policies) this.state.upsertPolicy(p);
      this.logger.info(
        { source: c.localXds.source, workloads: this.localConfig.workloads.length },
        'loaded local configuration',
      );
    }
    const secrets = await createSecretManager(c);
    this.secrets = secrets.secrets;
    this.closeSecrets = secrets.close;
    this.secrets.on('fetch-failed', (id: Identity, err: Error) =>
      this.logger.warn({ identity: id.toString(), error: err.message }, 'certificate fetch failed'),
    );
    this.secrets.on('rotated', (id: Identity, cert: WorkloadCertificate) => {
      this.logger.info(
        { identity: id.toString(), expires: cert.notAfter.toISOString() },
        'certificate rotated',
      );
      for (const l of this.local.values())
        if (l.identity === id.toString())
          for (const s of l.servers) s.setSecureContext(serverSecureContextOptions(cert));
    });

    this.tracker = new ConnectionTracker(this.state, () => {});
    this.pool = new HbonePool({
      tlsFor: async (key) =>
        clientTlsOptions(await this.secrets.fetch(Identity.parse(key.srcIdentity)), key.dstIdentities),
      dial: (key) => {
        const src = this.state.findWorkloadByIp(this.config.network, key.srcIp ?? '');
        return this.sockets.dialHbone(src!, key.srcIp ?? '', key.dstIp, key.dstPort);
      },
      maxStreamsPerConnection: c.poolMaxStreamsPerConnection,
      idleTimeoutMs: c.poolUnusedReleaseTimeoutMs,
      tuning: {
        streamWindow: c.http2.streamWindow,
        connectionWindow: c.http2.connectionWindow,
        maxFrameSize: c.http2.frameSize,
      },
    });
    this.inbound = new Inbound({
      state: this.state,
      sockets: this.sockets,
      telemetry,
      tracker: this.tracker,
      logger: this.logger,
    });
    this.outbound = new Outbound({
      state: this.state,
      pool: this.pool,
      sockets: this.sockets,
      telemetry,
      logger: this.logger,
    });

    // Bind everything now: a port in use fails start-up with a clear error.
    this.servers.push(
      await startAdminServer(c.adminAddr.host, c.adminAddr.port, {
        configDump: () => this.configDump(),
        quit: () => void this.drain().then(() => this.opts.onQuit?.()),
        logger: this.logger,
      }),
      await startStatsServer(c.statsAddr.host, c.statsAddr.port, this.registry),
      await startReadinessServer(c.readinessAddr.host, c.readinessAddr.port, this.readiness),
    );
    if (c.socks5Addr) await this.startSocks(c.socks5Addr.host, c.socks5Addr.port);

    this.state.on('workloads', () => this.reconcile());
    // Ready means: the first ACK of every xDS type (or the local file loaded), and then the
    // listeners of every local workload known at that point are open.
    const markLoaded = async () => {
      this.stateLoaded = true;
      stateReady();
      await this.reconcile();
    };
    if (c.xdsAddress) {
      this.xds = startXdsSource(c, this.state, this.logger, new XdsMetrics(this.registry));
      void this.xds.ready.then(markLoaded);
    } else await markLoaded();
    this.logger.info(
      {
        node: c.nodeName,
        mode: c.proxyMode,
        xds: c.xdsAddress ?? 'disabled',
        ca: c.fakeCa ? 'fake' : c.caAddress,
        admin: `${c.adminAddr.host}:${c.adminAddr.port}`,
      },
      'ztunnel started',
    );
  }

  /** Workloads this ztunnel proxies: on its node (shared) or the one named (dedicated). */
  private isLocal(w: Workload): boolean {
    const c = this.config;
    if (c.proxyMode === 'dedicated') {
      const i = c.workloadInfo!;
      return w.namespace === i.namespace && w.name === i.name;
    }
    return w.node === c.nodeName && w.protocol === 'HBONE';
  }

  /** Opens listeners for new local workloads, closes those of removed ones. Serialised. */
  private reconcile(): Promise<void> {
    this.reconciling = this.reconciling
      .then(() => this.reconcileNow())
      .catch((err: Error) => {
        this.logger.error({ error: err.message }, 'failed to set up local workloads');
      });
    return this.reconciling;
  }

  private async reconcileNow(): Promise<void> {
    if (this.draining) return;
    const inpod = this.config.capture === 'inpod';
    const wanted = new Map<string, Workload>();
    const pending = new Set<string>();
    for (const w of this.state.dump().workloads) {
      if (!this.isLocal(w)) continue;
      if (inpod && !w.netns && w.podUid) {
        // Kubernetes without a CNI agent: find the pod's namespace from /proc (needs hostPID).
        const found = findPodNetns(w.podUid, this.config.procRoot);
        if (found) w.netns = found;
      }
      if (inpod && !w.netns) {
        this.readiness.block(podTask(w));
        pending.add(podTask(w));
        this.logger.warn(
          { workload: w.uid },
          'local workload has no network namespace yet; cannot capture its traffic',
        );
        continue;
      }
      wanted.set(w.uid, w);
    }
    for (const [uid, l] of this.local) {
      const w = wanted.get(uid);
      if (
        w &&
        w.workloadIps.join() === l.workload.workloadIps.join() &&
        workloadIdentity(w) === l.identity &&
        w.netns === l.workload.netns
      ) {
        l.workload = w;
        continue;
      }
      this.local.delete(uid);
      this.readiness.done(podTask(l.workload));
      await Promise.all(l.servers.map((s) => s.drain(1000)));
      if (l.capture) await stopPodCapture(l.workload, l.capture, 1000, true);
      if (![...this.local.values()].some((x) => x.identity === l.identity))
        this.secrets.forget(Identity.parse(l.identity));
      this.logger.info({ workload: uid }, 'stopped proxying workload');
    }
    for (const [uid, w] of wanted) {
      if (this.local.has(uid)) continue;
      this.readiness.block(podTask(w));
      const identity = workloadIdentity(w);
      const cert = await this.secrets.fetch(Identity.parse(identity));
      const hboneServer = () =>
        new HboneServer({
          tls: serverTlsOptions(cert),
          trustDomain: w.trustDomain,
          handler: this.inbound.handler(w),
          onTunnelEnd: (req, result) => this.inbound.tunnelEnded(req, result),
          onConnectionError: (err, remote) =>
            this.logger.warn({ 'src.addr': remote, error: err.message }, 'connection failed'),
          tuning: {
            streamWindow: this.config.http2.streamWindow,
            connectionWindow: this.config.http2.connectionWindow,
            maxFrameSize: this.config.http2.frameSize,
          },
        });
      const servers: HboneServer[] = [];
      let capture: PodListeners | undefined;
      if (inpod) {
        const current = () => this.state.findWorkload(uid) ?? w;
        const plaintextDeps = {
          state: this.state,
          sockets: this.sockets,
          telemetry: this.telemetry,
          tracker: this.tracker,
        };
        capture = await startPodCapture(
          w,
          {
            outbound: (sock, dst) => void this.outbound.handle(sock, dst, current()),
            plaintext: (sock, dst) => void handleInboundPlaintext(plaintextDeps, sock, dst, current()),
            hbone: hboneServer,
          },
          this.logger,
        );
        servers.push(capture.hbone);
      } else {
        for (const ip of w.workloadIps) {
          const server = hboneServer();
          await server.listen({ host: ip, port: 15008 });
          servers.push(server);
        }
      }
      this.local.set(uid, { workload: w, identity, servers, ...(capture ? { capture } : {}) });
      this.readiness.done(podTask(w));
      this.logger.info(
        { workload: uid, identity, addresses: w.workloadIps, ...(inpod ? { netns: w.netns } : {}) },
        'proxying workload',
      );
    }
    // Pods that were waiting for their namespace and are gone (or now set up) are no longer pending.
    for (const task of this.pendingPods) if (!pending.has(task)) this.readiness.done(task);
    this.pendingPods = pending;
    if (this.stateLoaded) this.readiness.done('proxy');
  }

  private async startSocks(host: string, port: number): Promise<void> {
    const server = net.createServer({ allowHalfOpen: true }, (sock) => void this.onSocks(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.socks = server;
  }

  private async onSocks(sock: net.Socket): Promise<void> {
    sock.on('error', () => {});
    const srcIp = normalizeIp(sock.remoteAddress ?? '');
    const source = await this.state.fetchWorkloadByIp(this.config.network, srcIp, 5000);
    if (!source || !this.isLocal(source)) {
      this.logger.warn({ 'src.addr': srcIp }, 'SOCKS5 client is not a workload of this node');
      return refuseSocks(sock);
    }
    let target: { ip: string; port: number };
    try {
      target = await readSocksRequest(sock, async (host) => {
        const svc = this.state.dump().services.find((s) => s.hostname === host);
        return svc?.vips[0]?.ip ?? (await dnsResolve(host));
      });
    } catch (err) {
      this.logger.debug({ error: (err as Error).message }, 'bad SOCKS5 request');
      return;
    }
    // Stay paused: the pipe resumes the socket once the upstream leg exists, so no early
    // bytes are read with nobody to take them.
    await this.outbound.handle(sock, target, source);
  }

  /** /config_dump (shared spec ztunnel.md §7.3). */
  configDump(): Record<string, unknown> {
    const dump = this.state.dump();
    const inbound = this.tracker.byWorkload();
    return {
      ...dump,
      staticConfig: this.localConfig?.raw ?? null,
      version: { component: 'ztunnel', version: this.config.version, node: process.version },
      config: publicConfig(this.config),
      certificates: this.secrets.status().map((s) => {
        const cert = this.secrets.get(Identity.parse(s.identity));
        return {
          identity: s.identity,
          state:
            s.state === 'available'
              ? 'Available'
              : s.state === 'pending'
                ? 'Initializing'
                : `Unavailable: ${s.lastError ?? 'not fetched'}`,
          certChain: cert
            ? [cert.certPem, ...cert.chainPems].map((pem) => ({
                pem: Buffer.from(pem).toString('base64'),
                serialNumber: s.serialNumber,
                validFrom: s.notBefore,
                expirationTime: s.notAfter,
              }))
            : [],
          rootCerts: cert ? [{ pem: Buffer.from(cert.rootPem).toString('base64') }] : [],
        };
      }),
      workloadState: Object.fromEntries(
        [...this.local].map(([uid, l]) => [
          uid,
          {
            state: 'Up',
            info: {
              name: l.workload.name,
              namespace: l.workload.namespace,
              serviceAccount: l.workload.serviceAccount,
            },
            connections: { inbound: inbound.get(uid) ?? 0, outbound: this.outbound.openConnections },
          },
        ]),
      ),
    };
  }

  /**
   * Graceful drain (spec §8): stop accepting, GOAWAY on every HBONE session, let open
   * connections finish until the deadline, then close everything.
   */
  async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    const deadline = this.config.drainDeadlineMs;
    this.logger.info({ deadlineMs: deadline }, 'draining');
    this.socks?.close();
    this.pool?.close();
    for (const l of this.local.values()) {
      l.capture?.outbound.close();
      l.capture?.plaintext.close();
    }
    await Promise.all([...this.local.values()].flatMap((l) => l.servers.map((s) => s.drain(deadline))));
    const until = Date.now() + deadline;
    while (this.outbound?.openConnections > 0 && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    await this.stop();
    this.logger.info('drained');
  }

  /** Immediate stop of everything still open. */
  async stop(): Promise<void> {
    this.draining = true;
    this.xds?.close();
    this.pool?.destroy();
    this.socks?.close();
    for (const l of this.local.values()) {
      for (const s of l.servers) await s.drain(0);
      if (l.capture) await stopPodCapture(l.workload, l.capture, 0, false);
    }
    this.local.clear();
    for (const s of this.servers.splice(0)) await s.close();
    this.secrets?.stop();
    this.closeSecrets();
  }
}
