// Our waypoint's L7 path in a process of its own, for the L7 benchmark: the real Router,
// WaypointState, upstream pools and connector from apps/waypoint, configured as the controller
// configures a service with no VirtualService.
//   node waypoint-front.mjs <listenPort> <backendPort>
//     plain: an HTTP/1.1 listener in front and plain TCP to 127.0.0.1:<backendPort> — the
//     work nginx and haproxy do in the "plain" rows;
//   node waypoint-front.mjs <listenPort> <backendPort> --hbone <certDir> <backendIp> <backendHbonePort>
//     the waypoint as deployed: the HBONE listener (mutual TLS 1.3, HTTP/2 CONNECT) and the
//     same HTTP front as app.ts in, HBONE tunnels out to the backend's ztunnel-side listener.
import http from 'node:http';
import { HbonePool, HboneServer } from '@ambient/hbone';
import { clientTlsOptions, serverTlsOptions } from '@ambient/mtls';
import { Cluster, ClusterLoadAssignment, RouteConfiguration } from '@ambient/proto';
import { createLogger, HttpMetrics, Registry } from '@ambient/telemetry';
import { HttpFront } from '../../apps/waypoint/dist/downstream.js';
import { JwksCache } from '../../apps/waypoint/dist/filters/jwt.js';
import { Router } from '../../apps/waypoint/dist/router.js';
import { WaypointState } from '../../apps/waypoint/dist/state.js';
import { connectEndpoint } from '../../apps/waypoint/dist/upstream/connect.js';
import { loadBenchCert } from './certs.mjs';

const [listenPort, backendPort] = process.argv.slice(2, 4).map(Number);
const hboneArg = process.argv.indexOf('--hbone');
const hbone =
  hboneArg > 0
    ? {
        certDir: process.argv[hboneArg + 1],
        backendIp: process.argv[hboneArg + 2],
        backendPort: Number(process.argv[hboneArg + 3]),
      }
    : undefined;
const cert = hbone ? loadBenchCert(hbone.certDir, 'waypoint') : undefined;
const pool = cert
  ? new HbonePool({ tlsFor: (key) => clientTlsOptions(cert, key.dstIdentities), idleTimeoutMs: 60_000 })
  : undefined;
const HOST = 'bench.default.svc.cluster.local';
const NAME = `inbound-vip|9080|http|${HOST}`;
const state = new WaypointState(
  { namespace: 'default', gatewayName: 'waypoint', domainSuffix: 'cluster.local' },
  (ep, cluster) =>
    connectEndpoint(
      { pool, identity: cert?.identity.toString() ?? '', hbonePort: hbone?.backendPort },
      ep,
      cluster.connectTimeoutMs,
    ),
  () => {},
);
// What the controller sends for a service with no VirtualService: the default route, Istio's
// default retry policy, timeout 0, LEAST_REQUEST, circuit breakers at 2^32−1.
state.upsertRoutes(
  NAME,
  RouteConfiguration.create({
    name: NAME,
    virtualHosts: [
      {
        name: 'vh',
        domains: ['*'],
        routes: [
          {
            name: 'default',
            match: { prefix: '/' },
            route: {
              cluster: NAME,
              timeout: {},
              retryPolicy: {
                retryOn: 'connect-failure,refused-stream,unavailable,cancelled',
                numRetries: { value: 2 },
              },
            },
          },
        ],
      },
    ],
  }),
);
const max = { value: 4294967295 };
state.upsertCluster(
  NAME,
  Cluster.create({
    name: NAME,
    type: 3,
    lbPolicy: 1,
    circuitBreakers: {
      thresholds: [{ maxConnections: max, maxPendingRequests: max, maxRequests: max, maxRetries: max }],
    },
  }),
);
state.upsertEndpoints(
  NAME,
  ClusterLoadAssignment.create({
    clusterName: NAME,
    endpoints: [
      {
        lbEndpoints: [
          {
            endpoint: {
              address: {
                socketAddress: { address: hbone?.backendIp ?? '127.0.0.1', portValue: backendPort },
              },
            },
            healthStatus: 1,
            // As the controller marks a pod in the mesh: its identity, and HBONE to its ztunnel.
            ...(hbone
              ? {
                  metadata: {
                    filterMetadata: {
                      istio: {
                        fields: { identity: { stringValue: 'spiffe://cluster.local/ns/bench/sa/backend' } },
                      },
                      'envoy.transport_socket_match': { fields: { tunnel: { stringValue: 'http' } } },
                    },
                  },
                }
              : {}),
          },
        ],
      },
    ],
  }),
);
const router = new Router({
  state,
  metrics: new HttpMetrics(new Registry()),
  logger: createLogger({ component: 'bench', level: 'warn' }),
  jwks: new JwksCache(),
  maxRequestBytes: 1 << 20,
  accessLog: false,
});
const ds = {
  service: {
    hostname: HOST,
    namespace: 'default',
    name: 'bench',
    vips: ['10.96.0.1'],
    ports: new Map([[9080, 8080]]),
  },
  vip: '10.96.0.1',
  port: 9080,
  principal: 'cluster.local/ns/default/sa/client',
  sourceIp: '127.0.0.1',
  http2: false,
};
if (hbone) {
  const front = new HttpFront(router);
  const { http2: _h2, ...base } = ds;
  const server = new HboneServer({
    tls: serverTlsOptions(cert),
    trustDomain: 'cluster.local',
    handler: async (req) => ({
      status: 200,
      serve: (stream) => front.serve(stream, { ...base, principal: req.peerIdentity.principal() }),
    }),
  });
  await server.listen({ host: '127.0.0.1', port: listenPort });
  console.log(`waypoint-front (HBONE) listening on ${listenPort}`);
} else {
  const server = http.createServer(
    { keepAliveTimeout: 60_000 },
    (req, res) => void router.handle(req, res, ds),
  );
  server.listen(listenPort, '127.0.0.1', () => console.log(`waypoint-front listening on ${listenPort}`));
}
process.on('SIGTERM', () => process.exit(0)); // lets --cpu-prof write its profile
