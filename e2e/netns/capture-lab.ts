// The in-pod capture lab: 2 nodes, namespace `shop` enrolled (2 pods per node), namespace
// `legacy` not enrolled (1 pod). The controller runs in the underlay's namespace on
// 172.18.0.1 (files mode, Kubernetes YAML as a user writes it); each node runs its own
// ztunnel inside the node's namespace, as a DaemonSet would, configured with only the
// controller's address and root certificate.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  applyLabConfig,
  type Child,
  controllerState,
  Lab,
  type PodPlan,
  podManifest,
  Supervisor,
  startLabController,
  startLabZtunnel,
  testkitCli,
} from '@ambient/testkit';

export const ZTUNNEL = fileURLToPath(new URL('../../apps/ztunnel/dist/main.js', import.meta.url));
export const CONTROLLER = fileURLToPath(new URL('../../apps/controller/dist/main.js', import.meta.url));

export const PODS = [
  { name: 'shop-a1', namespace: 'shop', node: 'node1', sa: 'frontend' },
  { name: 'shop-a2', namespace: 'shop', node: 'node1', sa: 'other' },
  { name: 'shop-b1', namespace: 'shop', node: 'node2', sa: 'reviews' },
  { name: 'shop-b2', namespace: 'shop', node: 'node2', sa: 'ratings' },
  { name: 'legacy-1', namespace: 'legacy', node: 'node2', sa: 'default' },
] as const;

export class CaptureLab {
  lab!: Lab;
  sup!: Supervisor;
  controller!: Child;
  readonly dir = mkdtempSync(path.join(tmpdir(), 'amb-capture-'));
  readonly configDir = path.join(this.dir, 'config');
  readonly ztunnels = new Map<string, Child>();

  async start(): Promise<void> {
    this.lab = await Lab.create({
      prefix: 'amb-cap',
      nodes: ['node1', 'node2'].map((node) => ({
        name: node,
        pods: PODS.filter((p) => p.node === node).map((p) => ({ name: p.name, namespace: p.namespace })),
      })),
    });
    this.sup = new Supervisor(path.resolve('test-logs', 'e2e-capture'));
    mkdirSync(this.configDir, { recursive: true });
    writeFileSync(path.join(this.configDir, 'cluster.yaml'), this.clusterYaml());
    this.controller = await startLabController(this.sup, this.lab, {
      entry: CONTROLLER,
      configDir: this.configDir,
      caDir: path.join(this.dir, 'ca'),
      env: { AMBIENT_DEBOUNCE_MS: '50' },
    });
    for (const p of PODS) {
      await this.sup.start({
        name: `app-${p.name}`,
        command: process.execPath,
        args: [testkitCli, 'http-echo', '--port', '8080', '--name', p.name],
        netns: this.pod(p.name).netns,
        ready: { tcp: 8080 },
      });
    }
    await this.sup.start({
      name: 'tcp-echo-b2',
      command: process.execPath,
      args: [testkitCli, 'tcp-echo', '--port', '9090'],
      netns: this.pod('shop-b2').netns,
      ready: { tcp: 9090 },
    });
    for (const node of ['node1', 'node2']) await this.startZtunnel(node);
  }

  pod(name: string): PodPlan {
    return this.lab.pod(name);
  }

  /** Rewrites the cluster without the given pods (as if deleted), waiting for both ztunnels. */
  async setPodsAbsent(names: string[]): Promise<void> {
    await this.applyPolicies('cluster', this.clusterYaml(new Set(names)));
  }

  /** Namespaces and Pods as the API server would hold them (plus where each pod's netns is). */
  private clusterYaml(absent = new Set<string>()): string {
    const docs = [
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n    istio.io/dataplane-mode: ambient',
      'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: legacy',
      ...PODS.filter((p) => !absent.has(p.name)).map((p) =>
        podManifest(this.pod(p.name), { serviceAccount: p.sa, labels: { app: p.sa } }),
      ),
    ];
    return `${docs.join('\n---\n')}\n`;
  }

  controllerState(): Promise<{ translations: number }> {
    return controllerState(this.lab);
  }

  /** Writes (or, with undefined, deletes) a policy file, then waits until both ztunnels acked the result. */
  applyPolicies(name: string, yaml: string | undefined): Promise<void> {
    return applyLabConfig(this.lab, this.configDir, name, yaml, { proxies: 2, timeoutMs: 5000 });
  }

  async startZtunnel(node: string): Promise<Child> {
    const child = await startLabZtunnel(this.sup, this.lab, node, {
      entry: ZTUNNEL,
      caDir: path.join(this.dir, 'ca'),
      env: { TERMINATION_GRACE_PERIOD_SECONDS: '2' },
      readyTimeoutMs: 20_000,
    });
    this.ztunnels.set(node, child);
    return child;
  }

  /** An HTTP GET from a pod; `ok` false when the connection failed or was refused. */
  async get(from: string, toPod: string, port = 8080, headers: Record<string, string> = {}) {
    const url = `http://${this.pod(toPod).ip}:${port}/`;
    const args = [
      testkitCli,
      'http-get',
      url,
      '--timeout-ms',
      '5000',
      ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
    ];
    const res = await this.lab.exec(from, process.execPath, args, { allowFailure: true });
    if (res.code !== 0) return { ok: false as const, error: res.stderr.trim() };
    const parsed = JSON.parse(res.stdout) as {
      status: number;
      body: { pod: string; source: { address: string }; headers: Record<string, string> };
    };
    return { ok: true as const, ...parsed };
  }

  logLines(node: string): Promise<Record<string, unknown>[]> {
    return this.ztunnels.get(node)!.jsonLogs();
  }

  async stop(): Promise<void> {
    await this.sup?.stopAll(3000);
    await this.lab?.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
