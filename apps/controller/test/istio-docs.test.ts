// Istio's documented YAML (examples/istio-docs/), unchanged, next to a Bookinfo namespace bound
// to its waypoint: each file loads without an error, translates without a warning, and gives
// the waypoint what the task describes.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadYaml } from '@ambient/model';
import { Cluster, HTTPFault, RouteConfiguration, WaypointPolicy } from '@ambient/proto';
import { describe, expect, it } from 'vitest';
import { ModelStore } from '../src/store.js';
import { translate } from '../src/translate/index.js';

const DIR = fileURLToPath(new URL('../../../examples/istio-docs/', import.meta.url));

const svc = (name: string, ip: string, selector: string) =>
  `---\napiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\nspec: {clusterIP: ${ip}, selector: ${selector}, ports: [{name: http, port: ${name === 'httpbin' ? 8000 : 9080}, targetPort: ${name === 'httpbin' ? 8080 : 9080}}]}\n`;
const pod = (name: string, labels: string, ip: string) =>
  `---\napiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, labels: ${labels}}\nspec: {serviceAccountName: bookinfo}\nstatus: {phase: Running, podIP: ${ip}}\n`;
const BOOKINFO = [
  'apiVersion: v1\nkind: Namespace\nmetadata: {name: default, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}}\n',
  '---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: waypoint}\nspec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}\n',
  svc('waypoint', '10.96.0.2', '{gateway.networking.k8s.io/gateway-name: waypoint}'),
  svc('productpage', '10.96.0.10', '{app: productpage}'),
  svc('reviews', '10.96.0.11', '{app: reviews}'),
  svc('reviews-v1', '10.96.0.12', '{app: reviews, version: v1}'),
  svc('reviews-v2', '10.96.0.13', '{app: reviews, version: v2}'),
  svc('ratings', '10.96.0.14', '{app: ratings}'),
  svc('details', '10.96.0.15', '{app: details}'),
  svc('httpbin', '10.96.0.16', '{app: httpbin}'),
  pod('productpage-v1', '{app: productpage, version: v1}', '10.244.1.10'),
  pod('reviews-v1', '{app: reviews, version: v1}', '10.244.1.11'),
  pod('reviews-v2', '{app: reviews, version: v2}', '10.244.1.12'),
  pod('reviews-v3', '{app: reviews, version: v3}', '10.244.1.13'),
  pod('ratings-v1', '{app: ratings, version: v1}', '10.244.1.14'),
  pod('details-v1', '{app: details, version: v1}', '10.244.1.15'),
  pod('httpbin', '{app: httpbin, version: v1}', '10.244.1.16'),
].join('');
const DR_ALL = readFileSync(`${DIR}/destination-rule-all.yaml`, 'utf8');

function run(file: string) {
  const text = readFileSync(`${DIR}/${file}`, 'utf8');
  const loaded = loadYaml(
    `${BOOKINFO}---\n${file.startsWith('virtual-service') ? `${DR_ALL}\n---\n` : ''}${text}`,
    file,
  );
  const store = new ModelStore();
  store.replaceSource('docs', loaded.objects);
  return { errors: loaded.errors, t: translate(store.view()) };
}
const routes = (t: ReturnType<typeof translate>, svcName: string, port = 9080) =>
  RouteConfiguration.create(
    t.waypoint.routes.get(`inbound-vip|${port}|http|${svcName}.default.svc.cluster.local`) as never,
  ).virtualHosts[0]!.routes;

describe("Istio's documented YAML, unchanged", () => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
  it.each(files)('%s loads and translates without an error or a warning', (file) => {
    const { errors, t } = run(file);
    expect(errors).toEqual([]);
    expect(t.warnings).toEqual([]);
  });

  it('request routing: jason goes to v2, everyone else to v1', () => {
    const r = routes(run('virtual-service-reviews-test-v2.yaml').t, 'reviews');
    expect(r[0]!.match!.headers[0]).toMatchObject({ name: 'end-user', stringMatch: { exact: 'jason' } });
    expect(r[0]!.route!.cluster).toContain('http/v2|reviews');
    expect(r[1]!.route!.cluster).toContain('http/v1|reviews');
  });

  it('fault injection: a 7 s delay and an HTTP 500 abort for jason', () => {
    const delay = HTTPFault.decode(
      routes(run('virtual-service-ratings-test-delay.yaml').t, 'ratings')[0]!.typedPerFilterConfig[
        'envoy.filters.http.fault'
      ]!.value,
    );
    expect(Number(delay.delay!.fixedDelay!.seconds)).toBe(7);
    expect(delay.delay!.percentage).toMatchObject({ numerator: 1_000_000 });
    const abort = HTTPFault.decode(
      routes(run('virtual-service-ratings-test-abort.yaml').t, 'ratings')[0]!.typedPerFilterConfig[
        'envoy.filters.http.fault'
      ]!.value,
    );
    expect(abort.abort!.httpStatus).toBe(500);
  });

  it('traffic shifting: 50/50 v1/v3; with the Gateway API 90/10 across two Services', () => {
    const vs = routes(run('virtual-service-reviews-50-v3.yaml').t, 'reviews')[0]!.route!.weightedClusters!
      .clusters;
    expect(vs.map((c) => c.weight!.value)).toEqual([50, 50]);
    const hr = routes(run('httproute-reviews-90-10.yaml').t, 'reviews')[0]!.route!.weightedClusters!.clusters;
    expect(hr.map((c) => [c.name, c.weight!.value])).toEqual([
      ['inbound-vip|9080|http|reviews-v1.default.svc.cluster.local', 90],
      ['inbound-vip|9080|http|reviews-v2.default.svc.cluster.local', 10],
    ]);
  });

  it('request timeouts and circuit breaking', () => {
    const t = run('virtual-service-ratings-timeout.yaml').t;
    expect(routes(t, 'reviews')[0]!.route!.timeout!.nanos).toBe(500_000_000);
    const cb = Cluster.create(
      run('destination-rule-httpbin-circuit-breaker.yaml').t.waypoint.clusters.get(
        'inbound-vip|8000|http|httpbin.default.svc.cluster.local',
      ) as never,
    );
    expect(cb.circuitBreakers!.thresholds[0]!.maxConnections!.value).toBe(1);
    expect(cb.maxRequestsPerConnection!.value).toBe(1);
    expect(cb.outlierDetection!.maxEjectionPercent!.value).toBe(100);
  });

  it('ambient L7 authorization: the policy goes to the waypoint for productpage', () => {
    const p = WaypointPolicy.create(
      run('authorization-productpage-viewer.yaml').t.waypoint.policies.get(
        'AuthorizationPolicy/default/productpage-viewer',
      ) as never,
    );
    expect(p.targets).toEqual(['Service/default/productpage.default.svc.cluster.local']);
  });
});
