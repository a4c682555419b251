// The waypoint translation (shared spec waypoint.md §1–§4) from YAML as a user writes it:
// Envoy resources decoded back and checked field by field, and a named warning for each
// mistake (the object, the field, the reason).
import { loadYaml } from '@ambient/model';
import {
  Cluster,
  ClusterLoadAssignment,
  HTTPFault,
  RouteConfiguration,
  structToPlain,
  WaypointPolicy,
} from '@ambient/proto';
import { describe, expect, it } from 'vitest';
import { ModelStore } from '../../store.js';
import { type Objects, translate } from '../index.js';

function objects(yaml: string): Objects {
  const { objects: list, errors } = loadYaml(yaml, 'test.yaml');
  if (errors.length) throw new Error(JSON.stringify(errors));
  const store = new ModelStore();
  store.replaceSource('test', list);
  return store.view();
}

const BASE = `
apiVersion: v1
kind: Namespace
metadata: {name: bookinfo, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: bookinfo}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: v1
kind: Service
metadata: {name: waypoint, namespace: bookinfo}
spec: {clusterIP: 10.96.0.2, selector: {gateway.networking.k8s.io/gateway-name: waypoint}, ports: [{name: mesh, port: 15008}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: bookinfo}
spec: {clusterIP: 10.96.0.11, selector: {app: reviews}, ports: [{name: http, port: 9080, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: bookinfo}
spec: {clusterIP: 10.96.0.12, selector: {app: db}, ports: [{name: tcp-db, port: 5432}]}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: bookinfo, labels: {app: reviews, version: v1}}
spec: {serviceAccountName: reviews}
status: {phase: Running, podIP: 10.244.2.2}
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v2, namespace: bookinfo, labels: {app: reviews, version: v2}}
spec: {serviceAccountName: reviews}
status: {phase: Running, podIP: 10.244.2.3, conditions: [{type: Ready, status: "False"}]}
`;
const ROUTE = 'inbound-vip|9080|http|reviews.bookinfo.svc.cluster.local';

function run(extra: string) {
  return translate(objects(BASE + extra));
}
const routesOf = (t: ReturnType<typeof translate>, name = ROUTE) =>
  RouteConfiguration.create(t.waypoint.routes.get(name) as never).virtualHosts[0]!.routes;

describe('waypoint translation', () => {
  it('without routes: a default route to the service with timeout 0 and Istio\u2019s default retries', () => {
    const t = run('');
    const [r] = routesOf(t);
    expect(r!.match!.prefix).toBe('/');
    expect(r!.route!.cluster).toBe(ROUTE);
    expect(Number(r!.route!.timeout!.seconds)).toBe(0);
    expect(r!.route!.retryPolicy!.retryOn).toBe(
      'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
    );
    expect(r!.route!.retryPolicy!.numRetries!.value).toBe(2);
    // TCP ports get a cluster but no route table; the waypoint's own Service gets nothing.
    expect(t.waypoint.routes.has('inbound-vip|5432|http|db.bookinfo.svc.cluster.local')).toBe(false);
    expect(t.waypoint.clusters.has('inbound-vip|5432|http|db.bookinfo.svc.cluster.local')).toBe(true);
    expect([...t.waypoint.routes.keys()].some((k) => k.includes('waypoint.bookinfo'))).toBe(false);
  });

  it('Cluster: LEAST_REQUEST, circuit breakers 2^32−1, endpoints with health and identity', () => {
    const t = run('');
    const c = Cluster.create(t.waypoint.clusters.get(ROUTE) as never);
    expect(c.lbPolicy).toBe(1);
    expect(c.circuitBreakers!.thresholds[0]!.maxConnections!.value).toBe(4294967295);
    expect(c.outlierDetection).toBeNull();
    const cla = ClusterLoadAssignment.create(t.waypoint.endpoints.get(ROUTE) as never);
    const eps = cla.endpoints[0]!.lbEndpoints.map((e) => ({
      addr: `${e.endpoint!.address!.socketAddress!.address}:${e.endpoint!.address!.socketAddress!.portValue}`,
      health: e.healthStatus,
      id: structToPlain(e.metadata!.filterMetadata.istio!).identity,
    }));
    expect(eps).toEqual([
      { addr: '10.244.2.2:8080', health: 1, id: 'spiffe://cluster.local/ns/bookinfo/sa/reviews' },
      { addr: '10.244.2.3:8080', health: 2, id: 'spiffe://cluster.local/ns/bookinfo/sa/reviews' },
    ]);
  });

  it('VirtualService: one route per match, first match wins, catch-all stops, weights kept, zero dropped', () => {
    const t = run(`
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}, {uri: {prefix: /beta}, ignoreUriCase: true}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 30}
    - {destination: {host: reviews, subset: v2}, weight: 10}
    - {destination: {host: reviews, subset: v3}, weight: 0}
    timeout: 1.5s
    retries: {attempts: 3, retryOn: "5xx,409", perTryTimeout: 500ms}
  - route: [{destination: {host: reviews}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews.bookinfo.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
`);
    const r = routesOf(t);
    expect(r).toHaveLength(3); // 2 matches + catch-all; the third rule is unreachable
    expect(r[0]!.match!.headers[0]).toMatchObject({ name: 'end-user', stringMatch: { exact: 'jason' } });
    expect(r[1]!.match!.prefix).toBe('/beta');
    expect(r[1]!.match!.caseSensitive!.value).toBe(false);
    const wc = r[2]!.route!.weightedClusters!.clusters.map((c) => [c.name, c.weight!.value]);
    expect(wc).toEqual([
      ['inbound-vip|9080|http/v1|reviews.bookinfo.svc.cluster.local', 30],
      ['inbound-vip|9080|http/v2|reviews.bookinfo.svc.cluster.local', 10],
    ]);
    expect(r[2]!.route!.timeout!.nanos).toBe(500_000_000);
    const rp = r[2]!.route!.retryPolicy!;
    expect(rp.retryOn).toBe('5xx,retriable-status-codes');
    expect(rp.retriableStatusCodes).toEqual([409]);
    expect(rp.numRetries!.value).toBe(3);
    expect(rp.perTryTimeout!.nanos).toBe(500_000_000);
    const v2 = ClusterLoadAssignment.create(
      t.waypoint.endpoints.get('inbound-vip|9080|http/v2|reviews.bookinfo.svc.cluster.local') as never,
    );
    expect(v2.endpoints[0]!.lbEndpoints).toHaveLength(1);
  });

  it('fault: percentages become parts per million; absent percentage = no abort', () => {
    const t = run(`
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - fault: {abort: {httpStatus: 503, percentage: {value: 12.5}}, delay: {fixedDelay: 2s, percentage: {value: 100}}}
    route: [{destination: {host: reviews}}]
`);
    const f = HTTPFault.decode(routesOf(t)[0]!.typedPerFilterConfig['envoy.filters.http.fault']!.value);
    expect(f.abort!.httpStatus).toBe(503);
    expect(f.abort!.percentage).toMatchObject({ numerator: 125000, denominator: 2 });
    expect(Number(f.delay!.fixedDelay!.seconds)).toBe(2);
  });

  it('DestinationRule: connection pool, outlier detection (enforcing_success_rate 0, panic threshold 0), consistent hash', () => {
    const t = run(`
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  trafficPolicy:
    loadBalancer: {consistentHash: {httpHeaderName: x-user}}
    connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}
    outlierDetection: {consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 3m}
`);
    const c = Cluster.create(t.waypoint.clusters.get(ROUTE) as never);
    expect(c.lbPolicy).toBe(2);
    const th = c.circuitBreakers!.thresholds[0]!;
    expect([th.maxConnections!.value, th.maxPendingRequests!.value, th.maxRequests!.value]).toEqual([
      1, 1, 4294967295,
    ]);
    expect(c.outlierDetection!.consecutive_5xx!.value).toBe(3);
    expect(c.outlierDetection!.enforcingSuccessRate!.value).toBe(0);
    expect(Number(c.outlierDetection!.baseEjectionTime!.seconds)).toBe(180);
    expect(c.outlierDetection!.maxEjectionPercent).toBeNull(); // Envoy's 10 % applies
    expect(c.commonLbConfig!.healthyPanicThreshold!.value).toBe(0);
    const [r] = routesOf(t);
    expect(r!.route!.hashPolicy[0]!.header!.headerName).toBe('x-user');
    expect(r!.route!.retryPolicy!.retryHostPredicate).toHaveLength(0); // consistent hash: no previous_hosts
  });

  it('HTTPRoute: matches sorted by precedence; weight-0 backends dropped; total 0 → direct 500', () => {
    const t = run(`
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: bookinfo}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /a}}]
    backendRefs: [{name: reviews, port: 9080, weight: 0}]
  - matches: [{path: {type: Exact, value: /a/b}}]
    backendRefs: [{name: reviews, port: 9080}]
  - matches: [{path: {type: PathPrefix, value: /a/b/c/}}]
    backendRefs: [{name: reviews, port: 9080}]
`);
    const r = routesOf(t);
    expect(r.map((x) => x.match![x.match!.pathSpecifier as 'path'])).toEqual(['/a/b', '/a/b/c', '/a']);
    expect(r[2]!.directResponse!.status).toBe(500);
  });

  it('L7 policies with targetRefs go to waypoints; selector ones do not; problems are named', () => {
    const t = run(`
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: viewer, namespace: bookinfo}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  rules: [{to: [{operation: {methods: [GET], paths: ["/api/{*}/x"]}}], when: [{key: request.bogus, values: [a]}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: l4, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews}}
  rules: [{from: [{source: {principals: [a]}}]}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: bookinfo}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  jwtRules: [{issuer: me, jwks: '{"keys": []}'}]
`);
    expect([...t.waypoint.policies.keys()].sort()).toEqual([
      'AuthorizationPolicy/bookinfo/viewer',
      'RequestAuthentication/bookinfo/jwt',
    ]);
    const p = WaypointPolicy.create(t.waypoint.policies.get('AuthorizationPolicy/bookinfo/viewer') as never);
    expect(p.targets).toEqual(['Service/bookinfo/reviews.bookinfo.svc.cluster.local']);
    expect(t.warnings).toContain(
      'AuthorizationPolicy/bookinfo/viewer: spec.rules[0].when[0]: unknown condition key request.bogus',
    );
  });

  it('a regex RE2 refuses rejects the whole VirtualService, naming the field (istiod validation)', () => {
    const t = run(`
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: perl, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {regex: "/(a)\\\\1"}}]
    route: [{destination: {host: reviews}}]
`);
    expect(t.warnings.join('\n')).toMatch(
      /VirtualService\/bookinfo\/perl: spec.http\[0\].match\[0\].uri.regex: invalid RE2 regex .*; the VirtualService is rejected/,
    );
    // Rejected as if it did not exist: the service keeps its default route.
    const routes = routesOf(t);
    expect(routes).toHaveLength(1);
    expect(routes[0]!.match!.prefix).toBe('/');
    expect(routes[0]!.route!.cluster).toBe(ROUTE);
  });

  it('bad input is named: no action, weights summing to 0, unknown host, missing subset', () => {
    const t = run(`
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: broken, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - match: [{uri: {prefix: /none}}]
  - route: [{destination: {host: reviews}, weight: 0}, {destination: {host: reviews, subset: v9}, weight: 0}]
  - match: [{uri: {prefix: /ghost}}]
    route: [{destination: {host: ghost}}]
  - route: [{destination: {host: reviews, subset: v9}}]
`);
    expect(t.warnings).toEqual(
      expect.arrayContaining([
        expect.stringContaining(
          'VirtualService/bookinfo/broken: spec.http[0]: exactly one of route, redirect, directResponse or delegate is required',
        ),
        expect.stringContaining('VirtualService/bookinfo/broken: spec.http[1]: route weights sum to 0'),
        expect.stringContaining(
          'VirtualService/bookinfo/broken: spec.http[2].route: destination host ghost is not a known service',
        ),
        expect.stringContaining(
          'subset v9 of reviews.bookinfo.svc.cluster.local is not defined by any DestinationRule',
        ),
      ]),
    );
  });

  it('corsPolicy (the VirtualService reference example): origins, methods, headers, max age', () => {
    const t = run(`
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: bookinfo}
spec:
  hosts: [reviews]
  http:
  - route:
    - destination:
        host: reviews
    corsPolicy:
      allowOrigins:
      - exact: https://example.com
      allowMethods:
      - POST
      - GET
      allowCredentials: false
      allowHeaders:
      - X-Foo-Bar
      maxAge: "24h"
`);
    expect(t.warnings).toEqual([]);
    const cors = routesOf(t)[0]!.route!.cors!;
    expect(cors.allowOriginStringMatch[0]!.exact).toBe('https://example.com');
    expect(cors.allowMethods).toBe('POST,GET');
    expect(cors.allowHeaders).toBe('X-Foo-Bar');
    expect(cors.maxAge).toBe('86400');
    expect(cors.allowCredentials).toBeNull();
  });
});
