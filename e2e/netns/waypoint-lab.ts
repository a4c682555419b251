// The waypoint lab: 2 nodes; namespace `bookinfo` enrolled (istio.io/dataplane-mode=ambient)
// and bound to the waypoint `waypoint` (istio.io/use-waypoint), the Gateway as
// `istioctl waypoint apply` writes it and the Deployment's pod as istiod would run it. The
// controller watches a directory of Kubernetes YAML; scenarios write Istio's documented YAML
// into it and wait until the ztunnels and the waypoint acknowledged the result.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  applyLabConfig,
  type Child,
  Lab,
  type LoadSummary,
  labGetJson,
  type PodPlan,
  podManifest,
  Supervisor,
  startLabController,
  startLabWaypoint,
  startLabZtunnel,
  testkitCli,
} from '@ambient/testkit';

const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
export const ZTUNNEL = root('apps/ztunnel/dist/main.js');
export const CONTROLLER = root('apps/controller/dist/main.js');
export const WAYPOINT = root('apps/waypoint/dist/main.js');

interface PodDef {
  name: string;
  node: string;
  sa: string;
  labels: Record<string, string>;
  /** The app the pod runs (testkit arguments), if any. */
  app?: string[];
}

const echo = (name: string, ...extra: string[]) => ['http-echo', '--port', '8080', '--name', name, ...extra];

export const PODS: PodDef[] = [
  { name: 'client', node: 'node1', sa: 'sleep', labels: { app: 'sleep' } },
  { name: 'intruder', node: 'node1', sa: 'intruder', labels: { app: 'intruder' } },
  // Outside the mesh (the attack suite's raw HBONE peer).
  {
    name: 'outsider',
    node: 'node1',
    sa: 'outsider',
    labels: { app: 'outsider', 'istio.io/dataplane-mode': 'none' },
  },
  {
    name: 'waypoint',
    node: 'node1',
    sa: 'waypoint',
    labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint', 'istio.io/dataplane-mode': 'none' },
  },
  {
    name: 'reviews-v1',
    node: 'node2',
    sa: 'reviews',
    labels: { app: 'reviews', version: 'v1' },
    app: echo('reviews-v1'),
  },
  {
    name: 'reviews-v2',
    node: 'node2',
    sa: 'reviews',
    labels: { app: 'reviews', version: 'v2' },
    app: echo('reviews-v2'),
  },
  {
    name: 'flaky-1',
    node: 'node2',
    sa: 'flaky',
    labels: { app: 'flaky' },
    app: echo('flaky-1', '--fail-every', '2'),
  },
  {
    name: 'slow-1',
    node: 'node2',
    sa: 'slow',
    labels: { app: 'slow' },
    app: echo('slow-1', '--delay-ms', '2000'),
  },
  { name: 'cb-1', node: 'node2', sa: 'cb', labels: { app: 'cb' }, app: echo('cb-1', '--delay-ms', '300') },
  { name: 'ratings-1', node: 'node2', sa: 'ratings', labels: { app: 'ratings' }, app: echo('ratings-1') },
  { name: 'ratings-2', node: 'node2', sa: 'ratings', labels: { app: 'ratings' }, app: echo('ratings-2') },
  {
    name: 'ratings-3',
    node: 'node1',
    sa: 'ratings',
    labels: { app: 'ratings' },
    app: echo('ratings-3', '--fail-every', '1', '--fail-status', '500'),
  },
  // A TCP service (port name tcp-…): the waypoint proxies it without HTTP (attack suite).
  {
    name: 'tcpdb-1',
    node: 'node2',
    sa: 'tcpdb',
    labels: { app: 'tcpdb' },
    app: ['tcp-echo', '--port', '8080'],
  },
  {
    name: 'grpc-1',
    node: 'node2',
    sa: 'grpc',
    labels: { app: 'grpc' },
    app: ['grpc-echo', '--port', '8080', '--name', 'grpc-1', '--fail-every', '2'],
  },
];

/** Services: name → [VIP, selector, port name]. */
const SERVICES: [string, string, Record<string, string>, string?][] = [
  ['waypoint', '10.96.0.2', { 'gateway.networking.k8s.io/gateway-name': 'waypoint' }],
  ['reviews', '10.96.0.11', { app: 'reviews' }],
  ['reviews-v1', '10.96.0.12', { app: 'reviews', version: 'v1' }],
  ['reviews-v2', '10.96.0.13', { app: 'reviews', version: 'v2' }],
  ['details', '10.96.0.14', { app: 'reviews' }],
  ['productpage', '10.96.0.15', { app: 'reviews' }],
  ['secure', '10.96.0.16', { app: 'reviews' }],
  ['faulty', '10.96.0.17', { app: 'reviews' }],
  ['flaky', '10.96.0.18', { app: 'flaky' }],
  ['slow', '10.96.0.19', { app: 'slow' }],
  ['cb', '10.96.0.20', { app: 'cb' }],
  ['ratings', '10.96.0.21', { app: 'ratings' }],
  ['grpc', '10.96.0.22', { app: 'grpc' }, 'grpc'],
  ['tcpdb', '10.96.0.23', { app: 'tcpdb' }, 'tcp-db'],
];

export const VIP = Object.fromEntries(SERVICES.map(([n, ip]) => [n, ip])) as Record<string, string>;

function serviceYaml([name, ip, selector, portName]: (typeof SERVICES)[number]): string {
  const sel = Object.entries(selector)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  const ports =
    name === 'waypoint'
      ? '[{name: mesh, port: 15008, targetPort: 15008}]'
      : `[{name: ${portName ?? 'http'}, port: 9080, targetPort: 8080}]`;
  return `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\n  namespace: bookinfo\nspec:\n  clusterIP: ${ip}\n  selector: {${sel}}\n  ports: ${ports}`;
}

export class WaypointLab {
  lab!: Lab;
  sup!: Supervisor;
  waypoint!: Child;
  readonly dir = mkdtempSync(path.join(tmpdir(), 'amb-waypoint-'));
  readonly configDir = path.join(this.dir, 'config');
  readonly caDir = path.join(this.dir, 'ca');

  async start(): Promise<void> {
    this.lab = await Lab.create({
      prefix: 'amb-wp',
      nodes: ['node1', 'node2'].map((node) => ({
        name: node,
        pods: PODS.filter((p) => p.node === node).map((p) => ({ name: p.name, namespace: 'bookinfo' })),
      })),
    });
    this.sup = new Supervisor(path.resolve('test-logs', 'e2e-waypoint'));
    mkdirSync(this.configDir, { recursive: true });
    writeFileSync(path.join(this.configDir, 'cluster.yaml'), this.clusterYaml());
    await startLabController(this.sup, this.lab, {
      entry: CONTROLLER,
      configDir: this.configDir,
      caDir: path.join(this.dir, 'ca'),
      env: { AMBIENT_DEBOUNCE_MS: '50' },
    });
    for (const p of PODS.filter((x) => x.app)) {
      await this.sup.start({
        name: `app-${p.name}`,
        command: process.execPath,
        args: [testkitCli, ...p.app!],
        netns: this.pod(p.name).netns,
        ready: { tcp: 8080 },
      });
    }
    for (const node of ['node1', 'node2'])
      await startLabZtunnel(this.sup, this.lab, node, {
        entry: ZTUNNEL,
        caDir: path.join(this.dir, 'ca'),
        env: { TERMINATION_GRACE_PERIOD_SECONDS: '1' },
      });
    this.waypoint = await startLabWaypoint(this.sup, this.lab, {
      entry: WAYPOINT,
      caDir: path.join(this.dir, 'ca'),
      pod: 'waypoint',
    });
  }

  pod(name: string): PodPlan {
    return this.lab.pod(name);
  }

  private clusterYaml(): string {
    const docs = [
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bookinfo\n  labels:\n    istio.io/dataplane-mode: ambient\n    istio.io/use-waypoint: waypoint',
      // What `istioctl waypoint apply -n bookinfo` creates.
      'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata:\n  name: waypoint\n  namespace: bookinfo\nspec:\n  gatewayClassName: istio-waypoint\n  listeners:\n  - name: mesh\n    port: 15008\n    protocol: HBONE',
      ...SERVICES.map(serviceYaml),
      ...PODS.map((p) => podManifest(this.pod(p.name), { serviceAccount: p.sa, labels: p.labels })),
    ];
    return `${docs.join('\n---\n')}\n`;
  }

  private getJson<T>(where: string, url: string): Promise<T> {
    return labGetJson(this.lab, where, url);
  }

  /** Writes (or, with undefined, deletes) a config file; waits until every proxy acked the result. */
  apply(name: string, yaml: string | undefined): Promise<void> {
    return applyLabConfig(this.lab, this.configDir, name, yaml, { proxies: 3 });
  }

  /** `count` requests from a pod to a service VIP through the mesh. */
  async load(
    service: string,
    o: {
      path?: string;
      count?: number;
      concurrency?: number;
      headers?: Record<string, string>;
      method?: string;
      from?: string;
    } = {},
  ): Promise<LoadSummary> {
    const args = [
      testkitCli,
      'http-load',
      `http://${VIP[service]}:9080${o.path ?? '/'}`,
      '-n',
      String(o.count ?? 1),
      '-c',
      String(o.concurrency ?? 1),
      '-X',
      o.method ?? 'GET',
      ...Object.entries(o.headers ?? {}).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    ];
    const res = await this.lab.exec(o.from ?? 'client', process.execPath, args, { timeoutMs: 120_000 });
    return JSON.parse(res.stdout) as LoadSummary;
  }

  async grpc(count: number): Promise<{ codes: Record<string, number>; pods: Record<string, number> }> {
    const res = await this.lab.exec('client', process.execPath, [
      testkitCli,
      'grpc-call',
      `${VIP.grpc}:9080`,
      '-n',
      String(count),
    ]);
    return JSON.parse(res.stdout);
  }

  waypointDump(): Promise<{
    clusters: {
      name: string;
      endpoints: { address: string; ejected: boolean }[];
      stats: Record<string, number>;
    }[];
    routes: { name: string }[];
    policies: { name: string }[];
  }> {
    return this.getJson('waypoint', 'http://127.0.0.1:15000/config_dump');
  }

  /** The waypoint's Prometheus text. */
  async waypointMetrics(): Promise<string> {
    const res = await this.lab.exec('waypoint', process.execPath, [
      testkitCli,
      'http-get',
      'http://127.0.0.1:15020/stats/prometheus',
    ]);
    return JSON.parse(res.stdout).body as string;
  }

  waypointLog(): Promise<Record<string, unknown>[]> {
    return this.waypoint.jsonLogs();
  }

  async stop(): Promise<void> {
    await this.sup?.stopAll(3000);
    await this.lab?.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
