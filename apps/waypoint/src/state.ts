// What the waypoint knows, from xDS: services and workloads (istio.workload.Address, the same
// resources ztunnel gets), route tables (RouteConfiguration), upstream clusters (Cluster +
// ClusterLoadAssignment) and L7 policies (ambient.security.v1.WaypointPolicy). Everything is
// compiled when it arrives: a resource that does not compile is refused (NACKed) and the
// previous version keeps serving.
import { type CompiledL7Policy, compileL7Policy, type L7PolicySpec } from '@ambient/policy';
import { type ambient, type envoy, type istio, structToPlain } from '@ambient/proto';
import type { JwtRule } from './filters/jwt.js';
import { compileRouteConfiguration, type RouteTable } from './routing/routes.js';
import { type Connect, UpstreamCluster } from './upstream/cluster.js';
import type { OutlierEvent } from './upstream/outlier.js';

export interface ServiceInfo {
  hostname: string;
  namespace: string;
  name: string;
  vips: string[];
  ports: Map<number, number>;
  /** The waypoint the service is bound to: `namespace/hostname`. */
  waypoint?: string;
}

export interface WorkloadInfo {
  uid: string;
  name: string;
  namespace: string;
  serviceAccount: string;
  trustDomain: string;
  workloadName: string;
  canonicalName: string;
  canonicalRevision: string;
  clusterId: string;
  ips: string[];
}

export interface PolicyEntry {
  kind: string;
  key: string;
  namespace: string;
  targets: string[];
  authz?: CompiledL7Policy;
  /** The same policy as the TCP proxy enforces it (HTTP-only attributes cannot be known there). */
  authzTcp?: CompiledL7Policy;
  jwtRules?: JwtRule[];
}

export interface ServicePolicies {
  authz: CompiledL7Policy[];
  authzTcp: CompiledL7Policy[];
  jwtRules: JwtRule[];
  /** Headers the JWT filter writes for this service: never accepted from the client. */
  jwtOutputs: Set<string>;
}

function ipString(b: Uint8Array): string {
  if (b.length === 4) return [...b].join('.');
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

export class WaypointState {
  readonly services = new Map<string, ServiceInfo>();
  private readonly byVip = new Map<string, ServiceInfo>();
  readonly workloads = new Map<string, WorkloadInfo>();
  private readonly workloadByIp = new Map<string, WorkloadInfo>();
  private readonly addressKinds = new Map<string, 'service' | 'workload'>();
  readonly routes = new Map<string, RouteTable>();
  readonly clusters = new Map<string, UpstreamCluster>();
  private readonly pendingEndpoints = new Map<string, envoy.config.endpoint.v3.ClusterLoadAssignment>();
  readonly policies = new Map<string, PolicyEntry>();
  private readonly policyCache = new Map<string, ServicePolicies>();
  /** Problems seen in resources (admin /config_dump shows them). */
  readonly problems: string[] = [];

  constructor(
    readonly self: { namespace: string; gatewayName: string; domainSuffix: string },
    private readonly connect: Connect,
    private readonly onOutlier: (cluster: string, e: OutlierEvent) => void,
  ) {}

  /** `namespace/hostname` of this waypoint, as services name it in `waypoint`. */
  get waypointKey(): string {
    return `${this.self.namespace}/${this.self.gatewayName}.${this.self.namespace}.svc.${this.self.domainSuffix}`;
  }

  // ---- Address ----
  upsertAddress(name: string, a: istio.workload.Address): void {
    if (a.service) {
      this.removeAddress(name);
      const s = a.service;
      const info: ServiceInfo = {
        hostname: s.hostname,
        namespace: s.namespace,
        name: s.name,
        vips: s.addresses.map((x) => ipString(x.address)),
        ports: new Map(s.ports.map((p) => [p.servicePort, p.targetPort])),
        ...(s.waypoint?.hostname
          ? { waypoint: `${s.waypoint.hostname.namespace}/${s.waypoint.hostname.hostname}` }
          : {}),
      };
      this.services.set(name, info);
      for (const vip of info.vips) this.byVip.set(vip, info);
      this.addressKinds.set(name, 'service');
    } else if (a.workload) {
      this.removeAddress(name);
      const w = a.workload;
      const info: WorkloadInfo = {
        uid: w.uid,
        name: w.name,
        namespace: w.namespace,
        serviceAccount: w.serviceAccount || 'default',
        trustDomain: w.trustDomain || 'cluster.local',
        workloadName: w.workloadName || w.name,
        canonicalName: w.canonicalName || w.name,
        canonicalRevision: w.canonicalRevision || 'latest',
        clusterId: w.clusterId,
        ips: w.addresses.map(ipString),
      };
      this.workloads.set(name, info);
      for (const ip of info.ips) this.workloadByIp.set(ip, info);
      this.addressKinds.set(name, 'workload');
    }
  }

  removeAddress(name: string): void {
    const kind = this.addressKinds.get(name);
    if (kind === 'service') {
      const s = this.services.get(name);
      for (const vip of s?.vips ?? []) if (this.byVip.get(vip) === s) this.byVip.delete(vip);
      this.services.delete(name);
    } else if (kind === 'workload') {
      const w = this.workloads.get(name);
      for (const ip of w?.ips ?? []) if (this.workloadByIp.get(ip) === w) this.workloadByIp.delete(ip);
      this.workloads.delete(name);
    }
    this.addressKinds.delete(name);
  }

  serviceByVip(ip: string): ServiceInfo | undefined {
    return this.byVip.get(ip);
  }

  workloadByAddress(ip: string): WorkloadInfo | undefined {
    return this.workloadByIp.get(ip);
  }

  // ---- Envoy resources ----
  /** Throws (→ NACK) when the route table does not compile. */
  upsertRoutes(name: string, rc: envoy.config.route.v3.RouteConfiguration): void {
    this.routes.set(name, compileRouteConfiguration(rc));
  }

  removeRoutes(name: string): void {
    this.routes.delete(name);
  }

  upsertCluster(name: string, c: envoy.config.cluster.v3.Cluster): void {
    let cluster = this.clusters.get(name);
    if (!cluster) {
      cluster = new UpstreamCluster(name, this.connect, this.onOutlier);
      this.clusters.set(name, cluster);
      const pending = this.pendingEndpoints.get(name);
      if (pending) {
        cluster.applyEndpoints(pending);
        this.pendingEndpoints.delete(name);
      }
    }
    cluster.applyCluster(c);
  }

  removeCluster(name: string): void {
    this.clusters.get(name)?.close();
    this.clusters.delete(name);
  }

  upsertEndpoints(name: string, cla: envoy.config.endpoint.v3.ClusterLoadAssignment): void {
    const cluster = this.clusters.get(name);
    if (cluster) cluster.applyEndpoints(cla);
    else this.pendingEndpoints.set(name, cla);
  }

  removeEndpoints(name: string): void {
    this.pendingEndpoints.delete(name);
    this.clusters.get(name)?.applyEndpoints({ clusterName: name, endpoints: [] } as never);
  }

  // ---- L7 policies ----
  /** Throws (→ NACK) when a policy cannot be used. */
  upsertPolicy(name: string, p: ambient.security.v1.WaypointPolicy): void {
    const spec = p.spec ? structToPlain(p.spec) : {};
    const entry: PolicyEntry = {
      kind: p.kind,
      key: name,
      namespace: p.namespace,
      targets: p.targets,
    };
    if (p.kind === 'AuthorizationPolicy') {
      entry.authz = compileL7Policy(p.name, p.namespace, spec as L7PolicySpec);
      entry.authzTcp = compileL7Policy(p.name, p.namespace, spec as L7PolicySpec, 'tcp');
    } else if (p.kind === 'RequestAuthentication') {
      entry.jwtRules = ((spec as { jwtRules?: JwtRule[] }).jwtRules ?? [])
        .slice()
        .sort((a, b) => a.issuer.localeCompare(b.issuer));
    } else throw new Error(`unknown policy kind ${p.kind}`);
    this.policies.set(name, entry);
    this.policyCache.clear();
  }

  removePolicy(name: string): void {
    this.policies.delete(name);
    this.policyCache.clear();
  }

  /** Policies that apply to traffic for a service through this waypoint (spec §4.6); cached per service. */
  policiesFor(svc: ServiceInfo): ServicePolicies {
    const key = `${svc.namespace}/${svc.hostname}`;
    let hit = this.policyCache.get(key);
    if (!hit) {
      hit = this.computePolicies(svc);
      this.policyCache.set(key, hit);
    }
    return hit;
  }

  private computePolicies(svc: ServiceInfo): ServicePolicies {
    const mine = new Set([
      `Gateway/${this.self.namespace}/${this.self.gatewayName}`,
      'GatewayClass/istio-waypoint',
      `Service/${svc.namespace}/${svc.hostname}`,
    ]);
    const authz: CompiledL7Policy[] = [];
    const authzTcp: CompiledL7Policy[] = [];
    const jwtRules: JwtRule[] = [];
    for (const p of this.policies.values()) {
      if (!p.targets.some((t) => mine.has(t))) continue;
      if (p.authz) authz.push(p.authz);
      if (p.authzTcp) authzTcp.push(p.authzTcp);
      if (p.jwtRules) jwtRules.push(...p.jwtRules);
    }
    const jwtOutputs = new Set<string>();
    for (const r of jwtRules) {
      if (r.outputPayloadToHeader) jwtOutputs.add(r.outputPayloadToHeader.toLowerCase());
      for (const c of r.outputClaimToHeaders ?? []) jwtOutputs.add(c.header.toLowerCase());
    }
    return { authz, authzTcp, jwtRules, jwtOutputs };
  }

  close(): void {
    for (const c of this.clusters.values()) c.close();
  }
}
