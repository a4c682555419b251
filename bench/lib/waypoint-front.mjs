// Our waypoint's L7 path in a process of its own, for the L7 benchmark: the real Router,
// WaypointState and upstream pools from apps/waypoint, with an HTTP/1.1 front door instead
// of the HBONE listener and plain TCP upstream — the same work nginx and haproxy do in the
// "plain" rows. Usage: node waypoint-front.mjs <listenPort> <backendPort>
import http from 'node:http';
import net from 'node:net';
import { Cluster, ClusterLoadAssignment, RouteConfiguration } from '@ambient/proto';
import { createLogger, HttpMetrics, Registry } from '@ambient/telemetry';
import { JwksCache } from '../../apps/waypoint/dist/filters/jwt.js';
import { Router } from '../../apps/waypoint/dist/router.js';
import { WaypointState } from '../../apps/waypoint/dist/state.js';

const [listenPort, backendPort] = process.argv.slice(2).map(Number);
const HOST = 'bench.default.svc.cluster.local';
const NAME = `inbound-vip|9080|http|${HOST}`;
const state = new WaypointState(
  { namespace: 'default', gatewayName: 'waypoint', domainSuffix: 'cluster.local' },
  (ep) =>
    new Promise((resolve, reject) => {
      const s = net.connect(ep.port, ep.ip);
      s.setNoDelay(true);
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    }),
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
            endpoint: { address: { socketAddress: { address: '127.0.0.1', portValue: backendPort } } },
            healthStatus: 1,
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
const server = http.createServer(
  { keepAliveTimeout: 60_000 },
  (req, res) => void router.handle(req, res, ds),
);
server.listen(listenPort, '127.0.0.1', () => console.log(`waypoint-front listening on ${listenPort}`));
process.on('SIGTERM', () => process.exit(0)); // lets --cpu-prof write its profile
