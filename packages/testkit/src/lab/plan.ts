// Address and name planning for the network-namespace lab — see shared spec
// capture-from-node.md §1 (Calico-style /32 routing, no bridge between pods and node).
//
// Pure: no I/O. Everything the lab builder does is derived from the plan made here, so
// the plan can be checked by table tests without root.

/** What a test declares: nodes, and pods placed on them. */
export interface ClusterSpec {
  /** Per-run prefix carried by every namespace name (letters, digits, '-'; ≤ 12 chars). */
  prefix: string;
  nodes: NodeSpec[];
}

export interface NodeSpec {
  name: string;
  pods?: PodSpec[];
}

export interface PodSpec {
  name: string;
  /** Kubernetes namespace of the pod (not the network namespace). Default `default`. */
  namespace?: string;
  /** Pod IP; default: the next free address of the node's pod CIDR. */
  ip?: string;
}

export interface NodePlan {
  name: string;
  /** Network namespace name (carries the run prefix). */
  netns: string;
  /** Index from 1; decides the node's pod CIDR 10.244.<index>.0/24 and underlay address. */
  index: number;
  underlayIp: string;
  /** The node's end of every pod veth carries this /32 (the pods' default gateway). */
  gatewayIp: string;
  podCidr: string;
  pods: PodPlan[];
}

export interface PodPlan {
  name: string;
  namespace: string;
  netns: string;
  node: string;
  ip: string;
  /** Name of the pod's veth end inside the node namespace (≤ 15 chars, kernel limit). */
  nodeIfName: string;
}

export interface ClusterPlan {
  prefix: string;
  /** Namespace holding the underlay bridge that links the nodes. */
  underlayNetns: string;
  underlayCidr: string;
  nodes: NodePlan[];
  pods: PodPlan[];
}

export const UNDERLAY_PREFIX = '172.18.0';
/** The underlay bridge's own address, where a control plane running in the underlay namespace serves the nodes. */
export const CONTROL_PLANE_IP = '172.18.0.1';
export const POD_PREFIX = '10.244';
const MAX_NODES = 200;
const MAX_PODS_PER_NODE = 250;
const NAME_RE = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

export class LabPlanError extends Error {
  readonly code = 'LAB_PLAN';
}

/** Validates a cluster declaration and assigns every address and name. */
export function planCluster(spec: ClusterSpec): ClusterPlan {
  if (!/^[a-z][a-z0-9-]{0,11}$/.test(spec.prefix)) {
    throw new LabPlanError(
      `lab prefix "${spec.prefix}" is invalid: use 1-12 lowercase letters, digits or '-', starting with a letter`,
    );
  }
  if (spec.nodes.length === 0 || spec.nodes.length > MAX_NODES) {
    throw new LabPlanError(`a lab needs 1 to ${MAX_NODES} nodes, got ${spec.nodes.length}`);
  }
  const seenNodes = new Set<string>();
  const seenPods = new Set<string>();
  const seenIps = new Set<string>();
  const nodes: NodePlan[] = [];
  spec.nodes.forEach((nodeSpec, i) => {
    const index = i + 1;
    checkName('node', nodeSpec.name);
    if (seenNodes.has(nodeSpec.name)) throw new LabPlanError(`node "${nodeSpec.name}" is declared twice`);
    seenNodes.add(nodeSpec.name);
    const podCidr = `${POD_PREFIX}.${index}.0/24`;
    const gatewayIp = `${POD_PREFIX}.${index}.1`;
    const podSpecs = nodeSpec.pods ?? [];
    if (podSpecs.length > MAX_PODS_PER_NODE) {
      throw new LabPlanError(
        `node "${nodeSpec.name}" has ${podSpecs.length} pods; at most ${MAX_PODS_PER_NODE}`,
      );
    }
    // Explicit addresses are reserved first so automatic ones never collide with them.
    const taken = new Set(podSpecs.map((p) => p.ip).filter((ip): ip is string => ip !== undefined));
    let next = 2;
    const pods = podSpecs.map((podSpec, j): PodPlan => {
      checkName('pod', podSpec.name);
      if (seenPods.has(podSpec.name)) throw new LabPlanError(`pod "${podSpec.name}" is declared twice`);
      seenPods.add(podSpec.name);
      let ip = podSpec.ip;
      if (ip === undefined) {
        while (taken.has(`${POD_PREFIX}.${index}.${next}`)) next++;
        ip = `${POD_PREFIX}.${index}.${next++}`;
      } else if (!ipInCidr(ip, podCidr) || ip === gatewayIp || ip.endsWith('.0') || ip.endsWith('.255')) {
        throw new LabPlanError(
          `pod "${podSpec.name}" address ${ip} is not a usable host address of ${podCidr}`,
        );
      }
      if (seenIps.has(ip)) throw new LabPlanError(`address ${ip} is used by two pods`);
      seenIps.add(ip);
      return {
        name: podSpec.name,
        namespace: podSpec.namespace ?? 'default',
        netns: `${spec.prefix}-${podSpec.name}`,
        node: nodeSpec.name,
        ip,
        nodeIfName: `vp${j}`,
      };
    });
    nodes.push({
      name: nodeSpec.name,
      netns: `${spec.prefix}-${nodeSpec.name}`,
      index,
      underlayIp: `${UNDERLAY_PREFIX}.${index + 1}`,
      gatewayIp,
      podCidr,
      pods,
    });
  });
  const underlayNetns = `${spec.prefix}-underlay`;
  const allNetns = new Set<string>([underlayNetns]);
  for (const n of nodes) {
    for (const name of [n.netns, ...n.pods.map((p) => p.netns)]) {
      if (allNetns.has(name)) throw new LabPlanError(`network namespace name "${name}" would be used twice`);
      allNetns.add(name);
    }
  }
  return {
    prefix: spec.prefix,
    underlayNetns,
    underlayCidr: `${UNDERLAY_PREFIX}.0/24`,
    nodes,
    pods: nodes.flatMap((n) => n.pods),
  };
}

/** Every network namespace of the plan, underlay first. */
export function planNamespaces(plan: ClusterPlan): string[] {
  return [plan.underlayNetns, ...plan.nodes.flatMap((n) => [n.netns, ...n.pods.map((p) => p.netns)])];
}

/** True when `name` belongs to a lab run with this prefix (used to sweep crashed runs). */
export function belongsToPrefix(name: string, prefix: string): boolean {
  return name.startsWith(`${prefix}-`);
}

function checkName(what: string, name: string): void {
  if (!NAME_RE.test(name) || name.length > 40) {
    throw new LabPlanError(
      `${what} name "${name}" is invalid: use lowercase letters, digits and '-' (≤ 40 chars)`,
    );
  }
}

export function ipv4ToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new LabPlanError(`"${ip}" is not an IPv4 address`);
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new LabPlanError(`"${ip}" is not an IPv4 address`);
    n = n * 256 + Number(p);
  }
  return n;
}

export function ipInCidr(ip: string, cidr: string): boolean {
  const [base, lenText] = cidr.split('/');
  const len = Number(lenText);
  if (!Number.isInteger(len) || len < 0 || len > 32) throw new LabPlanError(`"${cidr}" is not an IPv4 CIDR`);
  // JS bit operators are signed 32-bit; comparing block numbers by division stays unsigned.
  const block = 2 ** (32 - len);
  return Math.floor(ipv4ToInt(ip) / block) === Math.floor(ipv4ToInt(base!) / block);
}
