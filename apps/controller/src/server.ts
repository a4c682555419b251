// The controller, wired: sources → model store → translation (debounced) → xDS resource
// cache; xDS on 15010 (plaintext, local use) and 15012 (TLS, with the CA service), every
// stream and certificate request authenticated by its bearer token; HTTP on 15014: /metrics,
// /ready and /debug/root-cert to anyone, the debug views (/debug/syncz, /debug/config) only
// to loopback callers (`kubectl port-forward`, or a shell in the controller's pod).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CaService, CertificateAuthority, TokenIssuer, type TokenReviewer } from '@ambient/mtls';
import {
  Address,
  Authorization,
  Cluster,
  ClusterLoadAssignment,
  RouteConfiguration,
  WaypointPolicy,
} from '@ambient/proto';
import { Counter, createLogger, Gauge, Histogram, type Logger, Registry } from '@ambient/telemetry';
import { addressName, ResourceCache, XdsServer } from '@ambient/xds';
import * as grpc from '@grpc/grpc-js';
import { caAuthorizer, kubeTokenReviewer } from './ca-authorizer.js';
import type { ControllerConfig } from './config.js';
import { JwksResolver } from './jwks-resolver.js';
import { FilesSource } from './sources/files.js';
import { KubeSource } from './sources/kube.js';
import { ModelStore } from './store.js';
import { type Translation, translate } from './translate/index.js';
import { WaypointDeployer } from './waypoint-deployment.js';
import { xdsAuthenticator } from './xds-authenticator.js';

export class Controller {
  readonly store = new ModelStore();
  readonly cache = new ResourceCache();
  readonly xds: XdsServer;
  /** Verifies callers' bearer tokens (CA and xDS): TokenReview in kube mode, our own signer in files mode. */
  private reviewer?: TokenReviewer;
  private authenticateXds?: ReturnType<typeof xdsAuthenticator>;
  readonly registry = new Registry();
  readonly logger: Logger;
  ca!: CertificateAuthority;
  files?: FilesSource;
  kube?: KubeSource;
  private grpcServers: grpc.Server[] = [];
  private debugServer?: http.Server;
  private timer: NodeJS.Timeout | undefined;
  private lastTranslation: Translation = {
    addresses: new Map(),
    authorizations: new Map(),
    waypoint: { routes: new Map(), clusters: new Map(), endpoints: new Map(), policies: new Map() },
    warnings: [],
  };
  private reportedWarnings = new Set<string>();
  private deployer?: WaypointDeployer;
  private readonly jwks?: JwksResolver;
  readonly ports: { xdsPlaintext?: number; xdsTls?: number; debug?: number } = {};
  /** Translations published since start (tests and tools wait on it). */
  translations = 0;
  private readonly pushes: Counter<string>;
  private readonly translateSeconds: Histogram<string>;
  /** Model change → a proxy's ACK of the push it caused (one observation per proxy and type). */
  private readonly convergence = new Histogram({
    name: 'ambient_controller_convergence_seconds',
    help: 'Time from a configuration change to each proxy acknowledging it',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [],
  });

  constructor(
    readonly config: ControllerConfig,
    opts: { logDestination?: NodeJS.WritableStream } = {},
  ) {
    this.logger = createLogger({
      component: 'controller',
      level: config.logLevel as never,
      ...(opts.logDestination ? { destination: opts.logDestination } : {}),
    });
    this.xds = new XdsServer({
      cache: this.cache,
      debounceMs: 10,
      onAck: (_proxy, _typeUrl, seconds) => this.convergence.observe(seconds),
      authenticate: (request) =>
        this.authenticateXds
          ? this.authenticateXds(request)
          : Promise.reject(new Error('the controller is starting')),
      log: (level, msg, fields) => this.logger[level](fields ?? {}, msg),
    });
    this.registry.registerMetric(this.convergence);
    if (config.jwksFetcher === 'istiod')
      this.jwks = new JwksResolver(
        () => this.schedule(),
        (msg, fields) => this.logger.warn({ scope: 'jwks', ...fields }, msg),
      );
    this.pushes = new Counter({
      name: 'ambient_controller_translations_total',
      help: 'Model changes translated and published',
      registers: [this.registry],
    });
    this.translateSeconds = new Histogram({
      name: 'ambient_controller_translation_seconds',
      help: 'Time to translate the model into xDS resources',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [this.registry],
    });
    const xds = this.xds;
    new Gauge({
      name: 'ambient_controller_connected_proxies',
      help: 'Proxies connected over xDS',
      registers: [this.registry],
      collect() {
        this.set(xds.connections().length);
      },
    });
  }

  async start(): Promise<void> {
    const c = this.config;
    this.ca = await CertificateAuthority.loadOrCreate(c.caDir, { trustDomain: c.trustDomain });
    this.logger.info({ dir: c.caDir, mode: this.ca.mode }, 'CA loaded');
    this.store.on('change', () => this.schedule());
    if (c.source === 'files') {
      this.files = new FilesSource(c.configDir!, this.store, this.logger, c.debounceMs);
      await this.files.start();
    } else {
      this.kube = new KubeSource(this.store, this.logger);
      await this.kube.start();
      if (c.rootCertConfigMap) {
        await KubeSource.publishRootCert(c.rootCertConfigMap, this.ca.rootPem);
        this.logger.info(c.rootCertConfigMap, 'published the root certificate');
      }
      if (c.waypoints)
        this.deployer = new WaypointDeployer(
          {
            ...c.waypoints,
            rootCertConfigMap: c.rootCertConfigMap?.name ?? 'ambient-ca-root-cert',
            trustDomain: c.trustDomain,
            clusterId: c.clusterId,
          },
          (level, msg, fields) => this.logger[level](fields, msg),
        );
    }
    this.publish();
    this.reviewer =
      c.source === 'files' ? TokenIssuer.loadOrCreate(c.tokenKeyFile) : await kubeTokenReviewer();
    this.authenticateXds = xdsAuthenticator(this.reviewer, c.trustedNodeAccounts, this.store);
    const ca = new CaService({
      ca: this.ca,
      authorize: caAuthorizer(this.store, this.reviewer, c.trustedNodeAccounts),
      log: (level, msg, fields) => this.logger[level](fields ?? {}, msg),
    });
    if (c.xdsPlaintext) {
      // Plaintext: xDS only, and authenticated like 15012 — certificates are never handed out
      // without TLS.
      const plain = new grpc.Server();
      this.xds.addTo(plain);
      this.ports.xdsPlaintext = await bind(
        plain,
        `${c.xdsPlaintext.host}:${c.xdsPlaintext.port}`,
        grpc.ServerCredentials.createInsecure(),
      );
      this.grpcServers.push(plain);
    }
    const serving = this.ca.issueServing({ dnsNames: c.servingDns, ips: c.servingIps });
    const tlsServer = new grpc.Server({ 'grpc.max_send_message_length': 200 * 1024 * 1024 });
    this.xds.addTo(tlsServer);
    ca.addTo(tlsServer);
    this.ports.xdsTls = await bind(
      tlsServer,
      `${c.xdsTls.host}:${c.xdsTls.port}`,
      grpc.ServerCredentials.createSsl(
        null,
        [{ private_key: Buffer.from(serving.keyPem), cert_chain: Buffer.from(serving.chainPem) }],
        false,
      ),
    );
    this.grpcServers.push(tlsServer);
    this.ports.debug = await this.startDebug();
    this.logger.info(
      {
        source: c.source,
        xdsPlaintext: this.ports.xdsPlaintext,
        xdsTls: this.ports.xdsTls,
        debug: this.ports.debug,
      },
      'controller started',
    );
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.publish(), this.config.debounceMs);
  }

  /** Translates the model and publishes the result to the xDS cache. */
  publish(): void {
    const end = this.translateSeconds.startTimer();
    const t = translate(this.store.view(), {
      clusterId: this.config.clusterId,
      trustDomain: this.config.trustDomain,
      rootNamespace: this.config.rootNamespace,
      domainSuffix: this.config.domainSuffix,
      ...(this.jwks ? { jwks: (uri: string) => this.jwks!.get(uri) } : {}),
    });
    this.cache.replaceAll(Address, t.addresses);
    this.cache.replaceAll(Authorization, t.authorizations);
    // Endpoints and clusters before the routes that name them (a waypoint may apply them in order).
    this.cache.replaceAll(ClusterLoadAssignment, t.waypoint.endpoints);
    this.cache.replaceAll(Cluster, t.waypoint.clusters);
    this.cache.replaceAll(RouteConfiguration, t.waypoint.routes);
    this.cache.replaceAll(WaypointPolicy, t.waypoint.policies);
    end();
    this.pushes.inc();
    this.translations++;
    this.lastTranslation = t;
    for (const w of t.warnings) {
      if (!this.reportedWarnings.has(w)) this.logger.warn({ scope: 'translate' }, w);
    }
    this.reportedWarnings = new Set(t.warnings);
    if (this.deployer) void this.deployer.reconcile(this.store.view().Gateway, this.ca.rootPem);
  }

  /** The last published translation (what every proxy is being sent). */
  get translation(): Translation {
    return this.lastTranslation;
  }

  get warnings(): string[] {
    return this.lastTranslation.warnings;
  }

  private async startDebug(): Promise<number> {
    const server = http.createServer(async (req, res) => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (!PUBLIC_DEBUG_PATHS.has(path) && !isLoopback(req.socket.remoteAddress)) {
        res.writeHead(403, { 'content-type': 'text/plain' });
        return res.end('debug endpoints answer only on loopback: use kubectl port-forward\n');
      }
      if (path === '/ready') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        return res.end('ready\n');
      }
      const json = (v: unknown) => {
        const body = `${JSON.stringify(v, null, 2)}\n`;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (path === '/debug/syncz') return json(this.xds.connections());
      if (path === '/debug/config')
        return json({
          source: this.config.source,
          translations: this.translations,
          objects: this.store.counts(),
          loadErrors: this.files?.errors ?? [],
          warnings: this.lastTranslation.warnings,
          resources: {
            addresses: [...this.lastTranslation.addresses.values()]
              .map((a) => addressName(Address.create(a)))
              .sort(),
            authorizations: [...this.lastTranslation.authorizations.keys()].sort(),
            routes: [...this.lastTranslation.waypoint.routes.keys()].sort(),
            clusters: [...this.lastTranslation.waypoint.clusters.keys()].sort(),
            waypointPolicies: [...this.lastTranslation.waypoint.policies.keys()].sort(),
          },
        });
      if (path === '/metrics') {
        res.writeHead(200, { 'content-type': this.registry.contentType });
        return res.end(await this.registry.metrics());
      }
      if (path === '/debug/root-cert') {
        res.writeHead(200, { 'content-type': 'application/x-pem-file' });
        return res.end(this.ca.rootPem);
      }
      res.writeHead(404);
      res.end('not found\n');
    });
    const { host, port } = this.config.debug;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.debugServer = server;
    return (server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.jwks?.close();
    this.files?.stop();
    await this.kube?.stop();
    for (const s of this.grpcServers) s.forceShutdown();
    await this.xds.close();
    this.debugServer?.close();
    this.debugServer?.closeAllConnections();
  }
}

/** What the debug port serves to anyone: metrics for Prometheus, readiness, the (public) root. */
const PUBLIC_DEBUG_PATHS = new Set(['/metrics', '/ready', '/debug/root-cert']);

function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

function bind(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) =>
    server.bindAsync(address, creds, (err, port) =>
      err ? reject(new Error(`cannot listen on ${address}: ${err.message}`)) : resolve(port),
    ),
  );
}
