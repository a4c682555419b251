// The network-namespace lab: a small cluster built from `ip netns`, veth pairs and /32
// routes — see shared spec capture-from-node.md §1.
//
//   pod ─veth─┐                                    ┌─veth─ pod
//             node1 eth0 ══ underlay bridge ══ eth0 node2
//   pod ─veth─┘
//
// Every object lives inside namespaces this module creates; the root namespace (its
// routes, iptables, ip rules) is never touched, so deleting the namespaces removes
// everything. Start-up sweeps leftovers of crashed runs that used the same prefix.
import {
  belongsToPrefix,
  type ClusterPlan,
  type ClusterSpec,
  CONTROL_PLANE_IP,
  type NodePlan,
  type PodPlan,
  planCluster,
  planNamespaces,
} from './plan.js';
import { ip, type RunOptions, type RunResult, run } from './run.js';

export class Lab {
  private destroyed = false;

  private constructor(readonly plan: ClusterPlan) {}

  /** Sweeps leftovers with the same prefix, then builds the cluster. */
  static async create(spec: ClusterSpec): Promise<Lab> {
    const plan = planCluster(spec);
    await Lab.sweep(plan.prefix);
    const lab = new Lab(plan);
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  /** Removes every namespace whose name carries `prefix`, stopping what still runs in it. */
  static async sweep(prefix: string): Promise<string[]> {
    const removed: string[] = [];
    for (const name of await listNetns()) {
      if (!belongsToPrefix(name, prefix)) continue;
      await killNetnsProcesses(name);
      await ip('netns', 'del', name).catch(() => undefined);
      removed.push(name);
    }
    return removed;
  }

  node(name: string): NodePlan {
    const node = this.plan.nodes.find((n) => n.name === name);
    if (!node)
      throw new Error(`lab has no node "${name}" (nodes: ${this.plan.nodes.map((n) => n.name).join(', ')})`);
    return node;
  }

  pod(name: string): PodPlan {
    const pod = this.plan.pods.find((p) => p.name === name);
    if (!pod)
      throw new Error(`lab has no pod "${name}" (pods: ${this.plan.pods.map((p) => p.name).join(', ')})`);
    return pod;
  }

  /** Runs a command inside a namespace of the lab (a node's or a pod's, by lab name). */
  exec(
    where: string,
    file: string,
    args: string[],
    opts: Omit<RunOptions, 'netns'> = {},
  ): Promise<RunResult> {
    return run(file, args, { ...opts, netns: this.netnsOf(where) });
  }

  /** The network namespace of a node or pod, by its lab name. */
  netnsOf(where: string): string {
    if (where === 'underlay') return this.plan.underlayNetns;
    const node = this.plan.nodes.find((n) => n.name === where);
    if (node) return node.netns;
    return this.pod(where).netns;
  }

  /** Deletes every namespace of the lab (processes still inside are killed first). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const name of planNamespaces(this.plan).reverse()) {
      await killNetnsProcesses(name);
      await ip('netns', 'del', name).catch(() => undefined);
    }
  }

  /** Names of this lab's namespaces that still exist (empty after `destroy`). */
  async remainingNamespaces(): Promise<string[]> {
    const mine = new Set(planNamespaces(this.plan));
    return (await listNetns()).filter((n) => mine.has(n));
  }

  private async build(): Promise<void> {
    const { plan } = this;
    for (const name of planNamespaces(plan)) {
      await ip('netns', 'add', name);
      await ip('-n', name, 'link', 'set', 'lo', 'up');
    }
    await ip('-n', plan.underlayNetns, 'link', 'add', 'br0', 'type', 'bridge');
    await ip('-n', plan.underlayNetns, 'link', 'set', 'br0', 'up');
    // The bridge's own address: a control plane started in the underlay namespace serves the nodes from it.
    await ip('-n', plan.underlayNetns, 'addr', 'add', `${CONTROL_PLANE_IP}/24`, 'dev', 'br0');
    for (const node of plan.nodes) {
      const port = `n${node.index}`;
      await ip(
        'link',
        'add',
        'eth0',
        'netns',
        node.netns,
        'type',
        'veth',
        'peer',
        'name',
        port,
        'netns',
        plan.underlayNetns,
      );
      await ip('-n', plan.underlayNetns, 'link', 'set', port, 'master', 'br0', 'up');
      await ip('-n', node.netns, 'addr', 'add', `${node.underlayIp}/24`, 'dev', 'eth0');
      await ip('-n', node.netns, 'link', 'set', 'eth0', 'up');
      // A fresh namespace starts with forwarding off; reverse-path filtering would drop
      // pod traffic arriving on /32 veths, so switch it off explicitly.
      await run('sh', ['-c', sysctlScript], { netns: node.netns });
      for (const pod of node.pods) await this.buildPod(node, pod);
      for (const other of plan.nodes) {
        if (other === node) continue;
        await ip('-n', node.netns, 'route', 'add', other.podCidr, 'via', other.underlayIp);
      }
      // Pods reach the control plane (a waypoint pod talks to it, as in a cluster): the
      // underlay routes each node's pod range back through that node.
      await ip('-n', plan.underlayNetns, 'route', 'add', node.podCidr, 'via', node.underlayIp);
    }
  }

  private async buildPod(node: NodePlan, pod: PodPlan): Promise<void> {
    await ip(
      'link',
      'add',
      pod.nodeIfName,
      'netns',
      node.netns,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      pod.netns,
    );
    await ip('-n', pod.netns, 'addr', 'add', `${pod.ip}/32`, 'dev', 'eth0');
    await ip('-n', pod.netns, 'link', 'set', 'eth0', 'up');
    await ip('-n', pod.netns, 'route', 'add', node.gatewayIp, 'dev', 'eth0', 'scope', 'link');
    await ip('-n', pod.netns, 'route', 'add', 'default', 'via', node.gatewayIp, 'dev', 'eth0');
    await ip('-n', node.netns, 'addr', 'add', `${node.gatewayIp}/32`, 'dev', pod.nodeIfName);
    await ip('-n', node.netns, 'link', 'set', pod.nodeIfName, 'up');
    await ip('-n', node.netns, 'route', 'add', `${pod.ip}/32`, 'dev', pod.nodeIfName, 'scope', 'link');
  }
}

const sysctlScript = [
  'echo 1 > /proc/sys/net/ipv4/ip_forward',
  'echo 0 > /proc/sys/net/ipv4/conf/all/rp_filter',
  'echo 0 > /proc/sys/net/ipv4/conf/default/rp_filter',
].join(' && ');

export async function listNetns(): Promise<string[]> {
  const { stdout } = await ip('netns', 'list');
  // Lines look like "name" or "name (id: 3)".
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

/** Kills (SIGKILL) the processes inside one of our namespaces, by pid. */
async function killNetnsProcesses(name: string): Promise<void> {
  const res = await ip('netns', 'pids', name).catch(() => undefined);
  if (!res) return;
  for (const line of res.stdout.split('\n')) {
    const pid = Number(line.trim());
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

/** True when this process may build labs (root, with `ip` available). */
export async function labSupported(): Promise<{ ok: boolean; reason?: string }> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return { ok: false, reason: 'network-namespace tests need root (CAP_NET_ADMIN and CAP_SYS_ADMIN)' };
  }
  try {
    await ip('-V');
  } catch {
    return { ok: false, reason: '`ip` (iproute2) is not installed: apt-get install -y iproute2' };
  }
  return { ok: true };
}
