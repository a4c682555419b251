// The waypoint, wired: its identity from the CA RPC, configuration by Delta xDS (Address,
// RouteConfiguration, Cluster, ClusterLoadAssignment, WaypointPolicy), the HBONE listener on
// 15008 (the CONNECT authority — service VIP:port — selects the service; HTTP/1.1 or HTTP/2
// is served from inside the tunnel), the router, and the admin (15000), stats (15020) and
// readiness (15021) servers. Shared spec waypoint.md §0; ztunnel.md §1 for HBONE.
import type { Duplex } from 'node:stream';
import { HbonePool, HboneServer } from '@ambient/hbone';
import {
  CaClient,
  clientTlsOptions,
  Identity,
  SecretManager,
  serverSecureContextOptions,
  serverTlsOptions,
} from '@ambient/mtls';
import {
  type ambient,
  Cluster,
  ClusterLoadAssignment,
  type envoy,
  type istio,
  RouteConfiguration,
  TypeUrl,
  WaypointPolicy,
} from '@ambient/proto';
import {
  type BoundServer,
  createLogger,
  HttpMetrics,
  type Logger,
  Readiness,
  Registry,
  registerBuildInfo,
  startAdminServer,
  startReadinessServer,
  startStatsServer,
} from '@ambient/telemetry';
import { istioTypes, resourceType, XdsClient } from '@ambient/xds';
import type { Config } from './config.js';
import { HttpFront } from './downstream.js';
import { downstreamSource } from './downstream-source.js';
import { JwksCache } from './filters/jwt.js';
import { authorizeTcp } from './filters/tcp-authz.js';
import { Router } from './router.js';
import { compileRouteConfiguration } from './routing/routes.js';
import { WaypointState } from './state.js';
import type { Endpoint, UpstreamCluster } from './upstream/cluster.js';
import { connectEndpoint } from './upstream/connect.js';

export class Waypoint {
  readonly logger: Logger;
  readonly registry = new Registry();
  readonly readiness = new Readiness();
  readonly state: WaypointState;
  private secrets!: SecretManager;
  private ca!: CaClient;
  private pool!: HbonePool;
  private hbone!: HboneServer;
  private xds!: XdsClient;
  private router!: Router;
  private front!: HttpFront;
  private servers: BoundServer[] = [];
  readonly identity: Identity;
  ports: { hbone?: number; admin?: number; stats?: number; readiness?: number } = {};

  private constructor(readonly config: Config) {
    this.logger = createLogger({ component: 'waypoint', level: config.logLevel as never });
    this.identity = new Identity(config.trustDomain, config.pod.namespace, config.pod.serviceAccount);
    this.state = new WaypointState(
      { namespace: config.pod.namespace, gatewayName: config.gatewayName, domainSuffix: 'cluster.local' },
      (ep, cluster) => this.connectUpstream(ep, cluster),
      (cluster, e) =>
        this.logger[e.kind === 'skipped' ? 'info' : 'warn'](
          { scope: 'outlier', cluster, host: e.host, reason: e.reason },
          e.kind === 'eject' ? 'host ejected' : e.kind === 'uneject' ? 'host returned' : 'ejection skipped',
        ),
    );
  }

  static async start(config: Config): Promise<Waypoint> {
    const w = new Waypoint(config);
    await w.init();
    return w;
  }

  private async init(): Promise<void> {
    const c = this.config;
    registerBuildInfo(this.registry, 'waypoint', '0.1.0');
    const metrics = new HttpMetrics(this.registry);
    const certTask = this.readiness.register('certificate');
    const xdsTask = this.readiness.register('xds');

    this.ca = new CaClient({
      address: c.caAddress,
      ...(c.caAddress.startsWith('https://') && c.caRootCert ? { tls: { rootCert: c.caRootCert } } : {}),
      ttlSeconds: c.secretTtlSeconds,
      impersonate: false,
      headers: () => {
        const token = c.authToken();
        return { ...(token ? { authorization: `Bearer ${token}` } : {}), clusterid: c.clusterId };
      },
    });
    this.secrets = new SecretManager(this.ca);
    const cert = await this.secrets.fetch(this.identity);
    certTask();
    this.secrets.on('rotated', (id: Identity, next) => {
      if (id.toString() === this.identity.toString())
        this.hbone.setSecureContext(serverSecureContextOptions(next));
    });

    this.pool = new HbonePool({
      tlsFor: async (key) =>
        clientTlsOptions(await this.secrets.fetch(Identity.parse(key.srcIdentity)), key.dstIdentities),
      idleTimeoutMs: 60_000,
    });

    this.router = new Router({
      state: this.state,
      metrics,
      logger: this.logger,
      jwks: new JwksCache({
        remoteFetch: c.remoteJwks,
        log: (msg, fields) => this.logger.warn({ scope: 'jwt', ...fields }, msg),
      }),
      maxRequestBytes: c.maxRequestBytes,
      maxBufferedBytes: c.maxBufferedBytes,
      accessLog: c.accessLog,
      pathNormalization: c.pathNormalization,
      trustedHops: c.trustedHops,
      selfUri: this.identity.toString(),
    });

    this.front = new HttpFront(this.router);

    this.hbone = new HboneServer({
      tls: serverTlsOptions(cert),
      trustDomain: c.trustDomain,
      handler: async (req) => {
        const auth = req.authority;
        const svc = auth.isIp ? this.state.serviceByVip(auth.host) : undefined;
        if (!svc) return { status: 404, reason: `no service at ${req.rawAuthority}` };
        if (svc.waypoint !== this.state.waypointKey)
          return { status: 404, reason: `${svc.hostname} is not bound to this waypoint` };
        const src = downstreamSource(req, this.state);
        const principal = req.peerIdentity.principal();
        const base = {
          service: svc,
          vip: auth.host,
          port: auth.port,
          principal,
          sourceIp: src.ip,
          ...(src.workload ? { source: src.workload } : {}),
        };
        if (!this.state.routes.has(`inbound-vip|${auth.port}|http|${svc.hostname}`)) {
          // A TCP port (no route table): the L4 part of every policy bound here, then the
          // connection is balanced across the service's endpoints.
          const decision = authorizeTcp(this.state.policiesFor(svc).authzTcp, {
            principal,
            sourceIp: src.ip,
            destinationIp: auth.host,
            destinationPort: auth.port,
          });
          if (!decision.allowed) {
            this.logger.info(
              {
                'src.addr': src.ip,
                'src.identity': principal,
                'dst.service': svc.hostname,
                'dst.port': auth.port,
                policy: decision.policy,
                error: decision.reason,
              },
              'connection denied',
            );
            return { status: 401, reason: `RBAC: access denied (${decision.reason})` };
          }
          const cluster = this.state.clusters.get(`inbound-vip|${auth.port}|http|${svc.hostname}`);
          const ep = cluster?.choose(undefined);
          if (!cluster || !ep) return { status: 503, reason: 'no healthy upstream' };
          return { status: 200, serve: (stream) => this.serveTcp(stream, cluster, ep) };
        }
        return { status: 200, serve: (stream) => this.front.serve(stream, base) };
      },
      onConnectionError: (err, remote) =>
        this.logger.warn({ 'src.addr': remote, error: err.message }, 'connection failed'),
    });
    const addr = await this.hbone.listen({ host: c.hboneAddr.host, port: c.hboneAddr.port });
    this.ports.hbone = addr.port;

    this.xds = this.startXds(xdsTask);

    const admin = await startAdminServer(c.adminAddr.host, c.adminAddr.port, {
      configDump: () => this.configDump(),
      quit: () => void this.drain().then(() => process.exit(0)),
      logger: this.logger,
    });
    const stats = await startStatsServer(c.statsAddr.host, c.statsAddr.port, this.registry);
    const ready = await startReadinessServer(c.readinessAddr.host, c.readinessAddr.port, this.readiness);
    this.servers.push(admin, stats, ready);
    this.ports.admin = admin.address.port;
    this.ports.stats = stats.address.port;
    this.ports.readiness = ready.address.port;
    this.logger.info(
      {
        identity: this.identity.toString(),
        hbone: `${c.hboneAddr.host}:${addr.port}`,
        waypoint: this.state.waypointKey,
      },
      'waypoint started',
    );
  }

  private serveTcp(stream: Duplex, cluster: UpstreamCluster, ep: Endpoint): void {
    stream.on('error', () => {});
    cluster.openTunnel(ep).then(
      (up) => {
        up.on('error', () => stream.destroy());
        stream.pipe(up);
        up.pipe(stream);
        stream.once('close', () => up.destroy());
        up.once('close', () => stream.destroy());
      },
      () => stream.destroy(),
    );
  }

  /** A tunnel to an endpoint: HBONE to its ztunnel (pod in the mesh) or plain TCP. */
  private connectUpstream(ep: Endpoint, cluster: UpstreamCluster): Promise<Duplex> {
    return connectEndpoint(
      { pool: this.pool, identity: this.identity.toString() },
      ep,
      cluster.connectTimeoutMs,
    );
  }

  private startXds(xdsTask: () => void): XdsClient {
    const c = this.config;
    const compiled = new WeakMap<object, unknown>();
    const routeType = resourceType(RouteConfiguration, {
      nameOf: (r) => r.name,
      validate: (r) => {
        try {
          compiled.set(r, compileRouteConfiguration(r));
          return undefined;
        } catch (err) {
          return (err as Error).message;
        }
      },
    });
    const policyType = resourceType(WaypointPolicy, {
      nameOf: (p) => `${p.kind}/${p.namespace}/${p.name}`,
      // Compiling never fails (bad values become problems, shown in /config_dump): only the kind
      // can make a policy unusable. The state compiles it once, on update.
      validate: (p) =>
        p.kind === 'AuthorizationPolicy' || p.kind === 'RequestAuthentication'
          ? undefined
          : `unknown policy kind ${p.kind}`,
    });
    const client = new XdsClient({
      address: c.xdsAddress,
      node: {
        id: `waypoint~${c.pod.instanceIp || '1.1.1.1'}~${c.pod.name}.${c.pod.namespace}~${c.pod.namespace}.svc.cluster.local`,
        metadata: {
          NAME: c.pod.name,
          NAMESPACE: c.pod.namespace,
          INSTANCE_IPS: c.pod.instanceIp,
          ISTIO_VERSION: '1.24.0',
        },
      },
      types: [
        istioTypes.address,
        resourceType(ClusterLoadAssignment, { nameOf: (r) => r.clusterName }),
        resourceType(Cluster, { nameOf: (r) => r.name }),
        routeType,
        policyType,
      ] as never,
      ...(c.xdsAddress.startsWith('https://') && c.xdsRootCert ? { tls: { rootCert: c.xdsRootCert } } : {}),
      headers: () => {
        const token = c.authToken();
        return { ...(token ? { authorization: `Bearer ${token}` } : {}), clusterid: c.clusterId };
      },
      log: (level, msg, fields) => this.logger[level]({ scope: 'xds', ...fields }, msg),
    });
    client.watchType<istio.workload.Address>(TypeUrl.Address, {
      onUpdate: (name, a) => this.state.upsertAddress(name, a),
      onRemove: (name) => this.state.removeAddress(name),
    });
    client.watchType<envoy.config.endpoint.v3.ClusterLoadAssignment>(TypeUrl.ClusterLoadAssignment, {
      onUpdate: (name, r) => this.state.upsertEndpoints(name, r),
      onRemove: (name) => this.state.removeEndpoints(name),
    });
    client.watchType<envoy.config.cluster.v3.Cluster>(TypeUrl.Cluster, {
      onUpdate: (name, r) => this.state.upsertCluster(name, r),
      onRemove: (name) => this.state.removeCluster(name),
    });
    client.watchType<envoy.config.route.v3.RouteConfiguration>(TypeUrl.RouteConfiguration, {
      onUpdate: (name, r) => {
        const table = compiled.get(r);
        if (table) this.state.routes.set(name, table as never);
        else this.state.upsertRoutes(name, r);
      },
      onRemove: (name) => this.state.removeRoutes(name),
    });
    client.watchType<ambient.security.v1.WaypointPolicy>(TypeUrl.WaypointPolicy, {
      onUpdate: (name, p) => this.state.upsertPolicy(name, p),
      onRemove: (name) => this.state.removePolicy(name),
    });
    client.once('ready', () => xdsTask());
    return client.start();
  }

  configDump(): unknown {
    const s = this.state;
    return {
      identity: this.identity.toString(),
      waypoint: s.waypointKey,
      services: [...s.services.values()]
        .filter((v) => v.waypoint === s.waypointKey)
        .map((v) => ({ hostname: v.hostname, vips: v.vips, ports: Object.fromEntries(v.ports) })),
      routes: [...s.routes.values()].map((t) => ({
        name: t.name,
        routes: t.routes.map((r) => ({
          name: r.name,
          action: r.action.kind,
          ...(r.action.kind === 'forward'
            ? {
                clusters: r.action.targets.map((x) => `${x.cluster} (${x.weight})`),
                timeoutMs: r.action.timeoutMs,
                retry: r.action.retry
                  ? {
                      on: [...r.action.retry.on],
                      numRetries: r.action.retry.numRetries,
                      perTryTimeoutMs: r.action.retry.perTryTimeoutMs,
                    }
                  : undefined,
              }
            : {}),
          ...(r.fault ? { fault: r.fault } : {}),
        })),
      })),
      clusters: [...s.clusters.values()].map((c) => c.snapshot()),
      policies: [...s.policies.values()].map((p) => ({
        kind: p.kind,
        name: p.key,
        targets: p.targets,
        ...(p.authz ? { action: p.authz.action, problems: p.authz.problems } : {}),
        ...(p.jwtRules ? { issuers: p.jwtRules.map((r) => r.issuer) } : {}),
      })),
      xds: Object.fromEntries(
        [
          TypeUrl.Address,
          TypeUrl.RouteConfiguration,
          TypeUrl.Cluster,
          TypeUrl.ClusterLoadAssignment,
          TypeUrl.WaypointPolicy,
        ].map((t) => [t, Object.fromEntries(this.xds.resourceStatus(t))]),
      ),
    };
  }

  async drain(): Promise<void> {
    await this.hbone.drain(this.config.drainDeadlineMs);
    this.xds.close();
    this.pool.close();
    this.ca.close();
    this.state.close();
    for (const s of this.servers) await s.close();
  }
}
