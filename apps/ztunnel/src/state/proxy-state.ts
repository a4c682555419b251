// The workload state every proxy role reads — fed by xDS, a local file, or both (shared
// spec ztunnel.md §3, §4). `find*` are synchronous lookups; `fetch*` may wait (up to a
// deadline) for the control plane to deliver what is being looked for (§1.6: outbound waits
// up to 5 s for the local workload).
import { EventEmitter } from 'node:events';
import { type CompiledPolicy, compilePolicy, formatIp, parseIp } from '@ambient/policy';
import type { istio } from '@ambient/proto';
import { type Service, serviceKey, type Workload } from './types.js';

/** Normalised IP text (IPv4-mapped folded), so lookups match whatever form sockets report. */
export function normalizeIp(ip: string): string {
  const b = parseIp(ip);
  return b ? formatIp(b) : ip;
}

const ipKey = (network: string, ip: string) => `${network}/${normalizeIp(ip)}`;

/** Events: 'workloads' (changed uids), 'services', 'policies' (changed keys), 'change'. */
export class ProxyState extends EventEmitter {
  private readonly workloads = new Map<string, Workload>();
  private readonly workloadByIp = new Map<string, Workload>();
  private readonly services = new Map<string, Service>();
  private readonly serviceByVip = new Map<string, Service>();
  private readonly policies = new Map<string, CompiledPolicy>();
  private readonly rawPolicies = new Map<string, istio.security.Authorization>();

  // ---- updates ------------------------------------------------------------------------

  upsertWorkload(w: Workload): void {
    this.removeWorkload(w.uid, false);
    this.workloads.set(w.uid, w);
    if (w.networkMode !== 'HostNetwork')
      for (const ip of w.workloadIps) this.workloadByIp.set(ipKey(w.network, ip), w);
    this.changed('workloads', [w.uid]);
  }

  removeWorkload(uid: string, notify = true): void {
    const w = this.workloads.get(uid);
    if (!w) return;
    this.workloads.delete(uid);
    for (const ip of w.workloadIps) {
      const k = ipKey(w.network, ip);
      if (this.workloadByIp.get(k) === w) this.workloadByIp.delete(k);
    }
    if (notify) this.changed('workloads', [uid]);
  }

  upsertService(s: Service): void {
    const key = serviceKey(s);
    this.removeService(key, false);
    this.services.set(key, s);
    for (const v of s.vips) this.serviceByVip.set(ipKey(v.network, v.ip), s);
    this.changed('services', [key]);
  }

  removeService(key: string, notify = true): void {
    const s = this.services.get(key);
    if (!s) return;
    this.services.delete(key);
    for (const v of s.vips) {
      const k = ipKey(v.network, v.ip);
      if (this.serviceByVip.get(k) === s) this.serviceByVip.delete(k);
    }
    if (notify) this.changed('services', [key]);
  }

  upsertPolicy(p: istio.security.Authorization): void {
    const compiled = compilePolicy(p);
    this.policies.set(compiled.key, compiled);
    this.rawPolicies.set(compiled.key, p);
    this.changed('policies', [compiled.key]);
  }

  removePolicy(key: string): void {
    if (this.policies.delete(key)) {
      this.rawPolicies.delete(key);
      this.changed('policies', [key]);
    }
  }

  private changed(kind: 'workloads' | 'services' | 'policies', keys: string[]): void {
    this.emit(kind, keys);
    this.emit('change', kind, keys);
  }

  // ---- find: synchronous --------------------------------------------------------------

  findWorkload(uid: string): Workload | undefined {
    return this.workloads.get(uid);
  }

  findWorkloadByIp(network: string, ip: string): Workload | undefined {
    return this.workloadByIp.get(ipKey(network, ip));
  }

  findService(key: string): Service | undefined {
    return this.services.get(key);
  }

  findServiceByVip(network: string, ip: string): Service | undefined {
    return this.serviceByVip.get(ipKey(network, ip));
  }

  /** Workloads that are endpoints of a service (they list it in their services map). */
  findEndpoints(svc: Service): Workload[] {
    const key = serviceKey(svc);
    const out: Workload[] = [];
    for (const w of this.workloads.values()) if (w.services[key]) out.push(w);
    return out;
  }

  /** Workloads scheduled on a node. */
  findNodeWorkloads(node: string): Workload[] {
    return [...this.workloads.values()].filter((w) => w.node === node);
  }

  compiledPolicies(): ReadonlyMap<string, CompiledPolicy> {
    return this.policies;
  }

  // ---- fetch: may wait for the control plane -------------------------------------------

  /** Like findWorkloadByIp, but waits up to `timeoutMs` for it to appear. */
  fetchWorkloadByIp(network: string, ip: string, timeoutMs = 5000): Promise<Workload | undefined> {
    return this.waitFor(() => this.findWorkloadByIp(network, ip), timeoutMs);
  }

  private waitFor<T>(find: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    const now = find();
    if (now !== undefined || timeoutMs <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      const onChange = () => {
        const v = find();
        if (v !== undefined) {
          clearTimeout(timer);
          this.off('change', onChange);
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        this.off('change', onChange);
        resolve(undefined);
      }, timeoutMs);
      this.on('change', onChange);
    });
  }

  // ---- dump ---------------------------------------------------------------------------

  dump(): { workloads: Workload[]; services: Service[]; policies: unknown[] } {
    return {
      workloads: [...this.workloads.values()].sort((a, b) => (a.uid < b.uid ? -1 : 1)),
      services: [...this.services.values()].sort((a, b) => (a.hostname < b.hostname ? -1 : 1)),
      policies: [...this.policies.values()]
        .sort((a, b) => (a.key < b.key ? -1 : 1))
        .map((p) => ({
          name: p.name,
          namespace: p.namespace,
          scope: { GLOBAL: 'Global', NAMESPACE: 'Namespace', WORKLOAD_SELECTOR: 'WorkloadSelector' }[p.scope],
          action: p.action === 'DENY' ? 'Deny' : 'Allow',
          dryRun: p.dryRun,
          rules: this.rawPolicies.get(p.key)?.rules.length ?? 0,
        })),
    };
  }
}
