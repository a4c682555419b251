// A waypoint router on loopback without HBONE: the front server hands each request to the
// Router as the HBONE listener would, upstream endpoints are plain TCP (pods outside the
// mesh), and configuration is given as the Envoy resources the controller would send.
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { Cluster, ClusterLoadAssignment, type envoy, type Init, RouteConfiguration } from '@ambient/proto';
import { createLogger, HttpMetrics, Registry } from '@ambient/telemetry';
import { JwksCache } from '../src/filters/jwt.js';
import { type Downstream, Router, type RouterDeps } from '../src/router.js';
import { WaypointState } from '../src/state.js';

export const HOST = 'svc.test.svc.cluster.local';
export const ROUTE_NAME = `inbound-vip|9080|http|${HOST}`;

/**
 * A CONNECT tunnel server like the destination ztunnel's inbound (plaintext HTTP/2 here):
 * each CONNECT stream is piped to the TCP address in its authority.
 */
export async function connectRelay(): Promise<{ session: http2.ClientHttp2Session; close(): void }> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const [host, port] = String(headers[':authority']).split(':');
    const tcp = net.connect(Number(port), host, () => {
      stream.respond({ ':status': 200 });
      stream.pipe(tcp);
      tcp.pipe(stream);
    });
    tcp.on('error', () => stream.close());
    stream.on('error', () => tcp.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  return {
    session,
    close: () => {
      session.destroy();
      server.close();
    },
  };
}

export class Harness {
  readonly registry = new Registry();
  /** Set: upstream connections go through a CONNECT tunnel, as HBONE does. */
  relay?: http2.ClientHttp2Session;
  readonly state = new WaypointState(
    { namespace: 'test', gatewayName: 'waypoint', domainSuffix: 'cluster.local' },
    (ep) =>
      new Promise((resolve, reject) => {
        if (this.relay) {
          const t = this.relay.request({ ':method': 'CONNECT', ':authority': `${ep.ip}:${ep.port}` });
          t.once('response', (h) =>
            h[':status'] === 200 ? resolve(t) : reject(new Error(`CONNECT ${h[':status']}`)),
          );
          t.once('error', reject);
          return;
        }
        const s = net.connect(ep.port, ep.ip);
        s.once('connect', () => resolve(s));
        s.once('error', reject);
      }),
    () => {},
  );
  readonly router: Router;

  constructor(deps: Partial<RouterDeps> = {}) {
    this.router = new Router({
      state: this.state,
      metrics: new HttpMetrics(this.registry),
      logger: createLogger({ component: 'test', level: 'warn' }),
      jwks: new JwksCache(),
      maxRequestBytes: 1024 * 1024,
      accessLog: false,
      selfUri: 'spiffe://cluster.local/ns/test/sa/waypoint',
      ...deps,
    });
  }

  private servers: (http.Server | http2.Http2Server)[] = [];
  readonly ds: Omit<Downstream, 'http2'> = {
    service: {
      hostname: HOST,
      namespace: 'test',
      name: 'svc',
      vips: ['10.0.0.1'],
      ports: new Map([[9080, 8080]]),
    },
    vip: '10.0.0.1',
    port: 9080,
    principal: 'cluster.local/ns/test/sa/client',
    sourceIp: '127.0.0.1',
  };

  routes(routes: Init<envoy.config.route.v3.Route>[]): void {
    this.state.upsertRoutes(
      ROUTE_NAME,
      RouteConfiguration.create({ name: ROUTE_NAME, virtualHosts: [{ name: 'vh', domains: ['*'], routes }] }),
    );
  }

  cluster(name: string, ports: number[], extra: Init<envoy.config.cluster.v3.Cluster> = {}): void {
    this.state.upsertCluster(name, Cluster.create({ name, type: 3, lbPolicy: 0, ...extra }));
    this.state.upsertEndpoints(
      name,
      ClusterLoadAssignment.create({
        clusterName: name,
        endpoints: [
          {
            lbEndpoints: ports.map((p) => ({
              endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: p } } },
              healthStatus: 1,
            })),
          },
        ],
      }),
    );
  }

  /** The front door: HTTP/1.1 and HTTP/2 (cleartext) servers that call the router. */
  async front(): Promise<{ h1: number; h2: number }> {
    const h1 = http.createServer(
      (req, res) => void this.router.handle(req, res, { ...this.ds, http2: false }),
    );
    const h2 = http2.createServer(
      (req, res) => void this.router.handle(req, res, { ...this.ds, http2: true }),
    );
    this.servers.push(h1, h2);
    await Promise.all([h1, h2].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()))));
    return { h1: (h1.address() as AddressInfo).port, h2: (h2.address() as AddressInfo).port };
  }

  async close(): Promise<void> {
    this.state.close();
    for (const s of this.servers) {
      (s as http.Server).closeAllConnections?.();
      await new Promise((r) => s.close(r));
    }
  }
}

/**
 * A harness with one echo backend (`app`) behind a catch-all route (after `routesFirst`),
 * served on an HTTP/1.1 front; `close` stops both.
 */
export async function echoHarness(
  deps: Partial<RouterDeps> = {},
  routesFirst: Init<envoy.config.route.v3.Route>[] = [],
): Promise<{ h: Harness; port: number; close(): Promise<void> }> {
  const { startHttpEcho } = await import('@ambient/testkit');
  const h = new Harness(deps);
  const app = await startHttpEcho({ port: 0, host: '127.0.0.1', podName: 'app' });
  h.cluster('app', [app.port]);
  h.routes([...routesFirst, { name: 'all', match: { prefix: '/' }, route: { cluster: 'app', timeout: {} } }]);
  const port = (await h.front()).h1;
  return {
    h,
    port,
    close: async () => {
      await h.close();
      await app.close();
    },
  };
}
