// The in-pod capture lab: 2 nodes, namespace `shop` enrolled (2 pods per node, HBONE),
// namespace `legacy` not enrolled (1 pod). Each node runs its own ztunnel inside the node's
// network namespace, as a DaemonSet would, configured by a local file (the controller is
// the next step) and sharing one FAKE_CA root directory.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CertificateAuthority } from '@ambient/mtls';
import { type Child, Lab, type PodPlan, Supervisor, testkitCli } from '@ambient/testkit';

export const ZTUNNEL = fileURLToPath(new URL('../../apps/ztunnel/dist/main.js', import.meta.url));

export const PODS = [
  { name: 'shop-a1', namespace: 'shop', node: 'node1', sa: 'frontend' },
  { name: 'shop-a2', namespace: 'shop', node: 'node1', sa: 'other' },
  { name: 'shop-b1', namespace: 'shop', node: 'node2', sa: 'reviews' },
  { name: 'shop-b2', namespace: 'shop', node: 'node2', sa: 'ratings' },
  { name: 'legacy-1', namespace: 'legacy', node: 'node2', sa: 'default' },
] as const;

export interface Policy {
  name: string;
  namespace: string;
  scope: 'Global' | 'Namespace' | 'WorkloadSelector';
  action: 'Allow' | 'Deny';
  rules: unknown[][][];
  /** Workloads (pod names) that list this WorkloadSelector policy. */
  selects?: string[];
}

export class CaptureLab {
  lab!: Lab;
  sup!: Supervisor;
  readonly dir = mkdtempSync(path.join(tmpdir(), 'amb-capture-'));
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
    // One root for both nodes, created before either ztunnel starts.
    await CertificateAuthority.loadOrCreate(path.join(this.dir, 'ca'));
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
    for (const node of ['node1', 'node2']) await this.startZtunnel(node, []);
  }

  pod(name: string): PodPlan {
    return this.lab.pod(name);
  }

  /** Writes the local configuration file for the given policies. */
  writeConfig(policies: Policy[]): string {
    const workloads = PODS.map((p) => {
      const plan = this.pod(p.name);
      const enrolled = p.namespace === 'shop';
      return {
        uid: `Kubernetes//Pod/${p.namespace}/${p.name}`,
        name: p.name,
        namespace: p.namespace,
        serviceAccount: p.sa,
        workloadIps: [plan.ip],
        protocol: enrolled ? 'HBONE' : 'TCP',
        node: p.node,
        workloadName: p.name,
        canonicalName: p.name.replace(/-\w+$/, ''),
        authorizationPolicies: policies
          .filter((x) => x.selects?.includes(p.name))
          .map((x) => `${x.namespace}/${x.name}`),
        ...(enrolled ? { netns: `/var/run/netns/${plan.netns}` } : {}),
      };
    });
    const file = path.join(this.dir, `config-${Date.now()}-${Math.random().toString(16).slice(2, 6)}.yaml`);
    const clean = policies.map(({ selects: _s, ...p }) => ({ ...p, dryRun: false }));
    writeFileSync(file, JSON.stringify({ workloads, policies: clean, services: [] }, null, 2)); // JSON is YAML
    return file;
  }

  async startZtunnel(node: string, policies: Policy[]): Promise<Child> {
    const child = await this.sup.start({
      name: `ztunnel-${node}`,
      command: process.execPath,
      args: [ZTUNNEL],
      netns: this.lab.node(node).netns,
      env: {
        NODE_NAME: node,
        XDS_ADDRESS: '',
        LOCAL_XDS_PATH: this.writeConfig(policies),
        FAKE_CA: 'true',
        AMBIENT_FAKE_CA_DIR: path.join(this.dir, 'ca'),
        AMBIENT_CAPTURE: 'inpod',
        POD_NAME: `ztunnel-${node}`,
        TERMINATION_GRACE_PERIOD_SECONDS: '2',
      },
      ready: { http: 'http://127.0.0.1:15021/healthz/ready' },
      readyTimeoutMs: 20_000,
    });
    this.ztunnels.set(node, child);
    return child;
  }

  async restartZtunnel(node: string, policies: Policy[]): Promise<Child> {
    await this.ztunnels.get(node)?.stop(5000);
    return this.startZtunnel(node, policies);
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

  async logLines(node: string): Promise<Record<string, unknown>[]> {
    return (await this.ztunnels.get(node)!.output())
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  async stop(): Promise<void> {
    await this.sup?.stopAll(3000);
    await this.lab?.destroy();
  }
}
