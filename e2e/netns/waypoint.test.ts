// Waypoint scenarios (issue: the waypoint). Namespace `bookinfo` is enrolled and bound to its
// waypoint; every request leaves an unmodified client pod, is captured by the node's ztunnel,
// tunnelled (HBONE) to the waypoint, routed there, and tunnelled again to the destination
// pod's ztunnel. The YAML is Istio's and Gateway API's documented forms.
import { generateKeyPairSync, sign } from 'node:crypto';
import { netnsGate } from '@ambient/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WaypointLab } from './waypoint-lab.js';

const gate = await netnsGate('e2e/netns waypoint');

const ISSUER = 'testing@secure.istio.io';
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const JWKS = JSON.stringify({
  keys: [{ ...keys.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }],
});
function token(claims: Record<string, unknown>, key = keys.privateKey): string {
  const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${enc({ alg: 'RS256', kid: 'k1', typ: 'JWT' })}.${enc({ iss: ISSUER, sub: 'user-1', exp: Math.floor(Date.now() / 1000) + 3600, ...claims })}`;
  return `${head}.${sign('sha256', Buffer.from(head), key).toString('base64url')}`;
}

/** Counts of a waypoint metric's samples whose labels include all of `labels`. */
function metricSum(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.split(' ').pop());
  }
  return sum;
}

const share = (s: { pods: Record<string, number> }, pod: string, n: number) => (s.pods[pod] ?? 0) / n;

describe.skipIf(!gate.run)('waypoint (L7) on the in-box cluster', () => {
  const w = new WaypointLab();
  beforeAll(async () => {
    await w.start();
  }, 120_000);
  afterAll(async () => {
    await w.stop();
  }, 60_000);

  it('without any route: traffic to a service passes through the waypoint to its pods', async () => {
    const s = await w.load('reviews', { count: 20 });
    expect(s.statuses).toEqual({ 200: 20 });
    expect(Object.keys(s.pods).sort()).toEqual(['reviews-v1', 'reviews-v2']);
    const log = (await w.waypointLog()).filter(
      (l) => l.scope === 'access' && l['dst.service'] === 'reviews.bookinfo.svc.cluster.local',
    );
    expect(log.length).toBeGreaterThanOrEqual(20);
    expect(log[0]!['src.identity']).toBe('spiffe://cluster.local/ns/bookinfo/sa/sleep');
  });

  it('canary: weights 90/10 over 1,000 requests; header end-user: jason always goes to v2', async () => {
    await w.apply(
      'canary',
      `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts:
  - reviews
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: reviews
        subset: v2
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 90
    - destination:
        host: reviews
        subset: v2
      weight: 10
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: bookinfo
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`,
    );
    const s = await w.load('reviews', { count: 1000, concurrency: 8 });
    expect(s.statuses).toEqual({ 200: 1000 });
    expect(share(s, 'reviews-v2', 1000)).toBeGreaterThanOrEqual(0.07);
    expect(share(s, 'reviews-v2', 1000)).toBeLessThanOrEqual(0.13);
    const jason = await w.load('reviews', { count: 50, headers: { 'end-user': 'jason' } });
    expect(jason.pods).toEqual({ 'reviews-v2': 50 });
  }, 120_000);

  it('HTTPRoute: two backendRefs weighted 1:1 each get 50 % ± 5 %', async () => {
    await w.apply(
      'httproute',
      `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: details
  namespace: bookinfo
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: details
    port: 9080
  rules:
  - backendRefs:
    - name: reviews-v1
      port: 9080
      weight: 1
    - name: reviews-v2
      port: 9080
      weight: 1
`,
    );
    const s = await w.load('details', { count: 1000, concurrency: 8 });
    expect(s.statuses).toEqual({ 200: 1000 });
    expect(share(s, 'reviews-v1', 1000)).toBeGreaterThanOrEqual(0.45);
    expect(share(s, 'reviews-v1', 1000)).toBeLessThanOrEqual(0.55);
  }, 120_000);

  it('retries: a backend failing every other request; retries {attempts: 3, retryOn: 5xx} save ≥ 99 %', async () => {
    // Istio's default retry policy does not retry a 503 response: about half fail.
    const before = await w.load('flaky', { count: 200 });
    expect((before.statuses[503] ?? 0) / 200).toBeGreaterThanOrEqual(0.4);
    expect((before.statuses[503] ?? 0) / 200).toBeLessThanOrEqual(0.6);
    await w.apply(
      'retries',
      `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: flaky
  namespace: bookinfo
spec:
  hosts:
  - flaky.bookinfo.svc.cluster.local
  http:
  - route:
    - destination:
        host: flaky.bookinfo.svc.cluster.local
    retries:
      attempts: 3
      retryOn: 5xx
`,
    );
    const after = await w.load('flaky', { count: 200 });
    expect((after.statuses[200] ?? 0) / 200).toBeGreaterThanOrEqual(0.99);
  }, 120_000);

  it('fault abort 50 % with 503 (flag FI); delay 1 s only for the matching header', async () => {
    await w.apply(
      'faults',
      `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: faulty
  namespace: bookinfo
spec:
  hosts:
  - faulty
  http:
  - match:
    - headers:
        x-slow-me:
          exact: "yes"
    fault:
      delay:
        percentage:
          value: 100
        fixedDelay: 1s
    route:
    - destination:
        host: faulty
  - fault:
      abort:
        percentage:
          value: 50
        httpStatus: 503
    route:
    - destination:
        host: faulty
`,
    );
    const s = await w.load('faulty', { count: 600, concurrency: 8 });
    const aborted = (s.statuses[503] ?? 0) / 600;
    expect(aborted).toBeGreaterThanOrEqual(0.43);
    expect(aborted).toBeLessThanOrEqual(0.57);
    expect((s.statuses[200] ?? 0) + (s.statuses[503] ?? 0)).toBe(600);
    const metrics = await w.waypointMetrics();
    expect(
      metricSum(metrics, 'istio_requests_total', {
        response_code: '503',
        response_flags: 'FI',
        reporter: 'waypoint',
      }),
    ).toBe(s.statuses[503]);
    const slow = await w.load('faulty', { count: 3, headers: { 'x-slow-me': 'yes' } });
    expect(slow.statuses).toEqual({ 200: 3 });
    for (const r of slow.samples) expect(r.ms).toBeGreaterThanOrEqual(1000);
    const fast = (await w.load('faulty', { count: 20 })).samples;
    for (const r of fast) expect(r.ms).toBeLessThan(1000);
  }, 120_000);

  it('timeout 0.5 s against a 2 s backend → 504 upstream request timeout (UT)', async () => {
    await w.apply(
      'timeout',
      `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: slow
  namespace: bookinfo
spec:
  hosts:
  - slow
  http:
  - route:
    - destination:
        host: slow
    timeout: 0.5s
`,
    );
    const s = await w.load('slow', { count: 3 });
    expect(s.statuses).toEqual({ 504: 3 });
    for (const r of s.samples) {
      expect(r.ms).toBeGreaterThanOrEqual(450);
      expect(r.ms).toBeLessThan(1500);
    }
    expect(
      metricSum(await w.waypointMetrics(), 'istio_requests_total', {
        response_code: '504',
        response_flags: 'UT',
      }),
    ).toBe(3);
  }, 60_000);

  it('circuit breaker: maxConnections 1, http1MaxPendingRequests 1, 20 concurrent clients → some 503 UO, the rest succeed', async () => {
    await w.apply(
      'circuit-breaker',
      `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: cb
  namespace: bookinfo
spec:
  host: cb
  trafficPolicy:
    connectionPool:
      tcp:
        maxConnections: 1
      http:
        http1MaxPendingRequests: 1
        maxRequestsPerConnection: 1
`,
    );
    const s = await w.load('cb', { count: 40, concurrency: 20 });
    expect(s.statuses[503] ?? 0).toBeGreaterThan(0);
    expect(s.statuses[200] ?? 0).toBeGreaterThan(0);
    expect((s.statuses[200] ?? 0) + (s.statuses[503] ?? 0)).toBe(40);
    // Every 503 is an overflow, flagged as Envoy flags it.
    expect(s.samples.filter((r) => r.status === 503).every((r) => r.overloaded)).toBe(true);
    expect(
      metricSum(await w.waypointMetrics(), 'istio_requests_total', {
        response_code: '503',
        response_flags: 'UO',
      }),
    ).toBe(s.statuses[503]);
  }, 60_000);

  const outlier = (maxEjection: string) => `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: ratings
  namespace: bookinfo
spec:
  host: ratings
  trafficPolicy:
    loadBalancer:
      simple: ROUND_ROBIN
    outlierDetection:
      consecutive5xxErrors: 3
      interval: 1s
      baseEjectionTime: 4s
${maxEjection}`;

  it('outlier detection: the endpoint that always fails is ejected after 3 errors, receives nothing, and returns after baseEjectionTime', async () => {
    await w.apply('outlier', outlier('      maxEjectionPercent: 50'));
    // Round robin over 3 endpoints: ratings-3 (always 500) sees every third request.
    const first = await w.load('ratings', { count: 30 });
    expect(first.statuses[500] ?? 0).toBe(3);
    const ejected = await w.load('ratings', { count: 30 });
    expect(ejected.statuses).toEqual({ 200: 30 });
    expect(ejected.pods['ratings-3'] ?? 0).toBe(0);
    const dump = await w.waypointDump();
    const cluster = dump.clusters.find((c) => c.name.includes('ratings'))!;
    expect(cluster.endpoints.filter((e) => e.ejected)).toHaveLength(1);
    // baseEjectionTime 4 s (checked on each 1 s interval): then it is back in rotation.
    await new Promise((r) => setTimeout(r, 5500));
    const back = await w.load('ratings', { count: 9 });
    expect(back.statuses[500] ?? 0).toBeGreaterThan(0);
  }, 60_000);

  it('outlier detection with the default maxEjectionPercent (10 %) ejects nothing from 3 endpoints', async () => {
    await w.apply('outlier', outlier(''));
    // An ejection from the previous scenario runs its course first (as it would in Envoy).
    for (let i = 0; i < 100; i++) {
      const d = await w.waypointDump();
      if (!d.clusters.find((c) => c.name.includes('ratings'))!.endpoints.some((e) => e.ejected)) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const s = await w.load('ratings', { count: 30 });
    expect(s.statuses[500] ?? 0).toBe(10);
    const dump = await w.waypointDump();
    expect(dump.clusters.find((c) => c.name.includes('ratings'))!.endpoints.some((e) => e.ejected)).toBe(
      false,
    );
  }, 60_000);

  it('authorization: DENY DELETE → 403; ALLOW GET /api/* only for one principal', async () => {
    await w.apply(
      'authz',
      `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: productpage-deny-delete
  namespace: bookinfo
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: productpage
  action: DENY
  rules:
  - to:
    - operation:
        methods: ["DELETE"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: productpage-viewer
  namespace: bookinfo
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: productpage
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/bookinfo/sa/sleep"]
    to:
    - operation:
        methods: ["GET", "DELETE"]
        paths: ["/api/*"]
`,
    );
    expect((await w.load('productpage', { path: '/api/books' })).statuses).toEqual({ 200: 1 });
    expect((await w.load('productpage', { path: '/api/books', method: 'DELETE' })).statuses).toEqual({
      403: 1,
    });
    expect((await w.load('productpage', { path: '/admin' })).statuses).toEqual({ 403: 1 });
    expect((await w.load('productpage', { path: '/api/books', from: 'intruder' })).statuses).toEqual({
      403: 1,
    });
    // Policies bound to other services do not leak: reviews has none.
    expect((await w.load('reviews', { path: '/admin', from: 'intruder' })).statuses[200]).toBe(1);
  }, 60_000);

  it('JWT: invalid token → 401; missing token passes; requestPrincipals ["*"] then requires one (403)', async () => {
    const ra = `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata:
  name: secure-jwt
  namespace: bookinfo
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: secure
  jwtRules:
  - issuer: ${ISSUER}
    jwks: '${JWKS}'
`;
    await w.apply('jwt', ra);
    const good = token({});
    const forged = token({}, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
    expect((await w.load('secure', { headers: { authorization: `Bearer ${good}` } })).statuses).toEqual({
      200: 1,
    });
    expect((await w.load('secure', { headers: { authorization: `Bearer ${forged}` } })).statuses).toEqual({
      401: 1,
    });
    expect(
      (await w.load('secure', { headers: { authorization: `Bearer ${token({ exp: 1 })}` } })).statuses,
    ).toEqual({ 401: 1 });
    expect((await w.load('secure')).statuses).toEqual({ 200: 1 });
    await w.apply(
      'jwt',
      `${ra}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: require-jwt
  namespace: bookinfo
spec:
  targetRefs:
  - kind: Service
    group: ""
    name: secure
  action: ALLOW
  rules:
  - from:
    - source:
        requestPrincipals: ["*"]
`,
    );
    expect((await w.load('secure')).statuses).toEqual({ 403: 1 });
    expect((await w.load('secure', { headers: { authorization: `Bearer ${good}` } })).statuses).toEqual({
      200: 1,
    });
  }, 60_000);

  const grpcRetries = (retries: string) => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: grpc
  namespace: bookinfo
spec:
  hosts:
  - grpc
  http:
  - route:
    - destination:
        host: grpc
    retries:
${retries}`;

  it('gRPC through the waypoint, with a retry on unavailable', async () => {
    await w.apply('grpc', grpcRetries('      attempts: 0'));
    // The server fails every other call with UNAVAILABLE: without retries half fail.
    const without = await w.grpc(20);
    expect(without.codes['14']).toBe(10);
    expect(without.codes['0']).toBe(10);
    await w.apply('grpc', grpcRetries('      attempts: 3\n      retryOn: unavailable'));
    const withRetry = await w.grpc(20);
    expect(withRetry.codes).toEqual({ 0: 20 });
    expect(withRetry.pods).toEqual({ 'grpc-1': 20 });
    expect(
      metricSum(await w.waypointMetrics(), 'istio_requests_total', {
        request_protocol: 'grpc',
        grpc_response_status: '0',
      }),
    ).toBeGreaterThanOrEqual(30);
  }, 60_000);
});
