// istio.workload / istio.security protos → ztunnel's internal model. The only place that
// knows both shapes (protobuf conversion kept at the edge). Spec: ztunnel.md §3.3, §2.1 defaults.
import { formatIp } from '@ambient/policy';
import { istio, lookupType } from '@ambient/proto';
import {
  type GatewayAddress,
  type LoadBalancer,
  NETNS_EXTENSION,
  POD_UID_EXTENSION,
  type Scope,
  type Service,
  type Workload,
} from './types.js';

const W = istio.workload;

function gateway(g: istio.workload.GatewayAddress | null): GatewayAddress | undefined {
  if (!g) return undefined;
  if (g.destination === 'hostname' && g.hostname) {
    return {
      destination: { kind: 'hostname', namespace: g.hostname.namespace, hostname: g.hostname.hostname },
      hboneMtlsPort: g.hboneMtlsPort,
    };
  }
  if (g.destination === 'address' && g.address) {
    return {
      destination: { kind: 'address', network: g.address.network, ip: formatIp(g.address.address) },
      hboneMtlsPort: g.hboneMtlsPort,
    };
  }
  return undefined;
}

const SCOPES: Record<number, Scope | undefined> = {
  [W.LoadBalancing.Scope.REGION]: 'Region',
  [W.LoadBalancing.Scope.ZONE]: 'Zone',
  [W.LoadBalancing.Scope.SUBZONE]: 'Subzone',
  [W.LoadBalancing.Scope.NODE]: 'Node',
  [W.LoadBalancing.Scope.CLUSTER]: 'Cluster',
  [W.LoadBalancing.Scope.NETWORK]: 'Network',
};
const MODES: LoadBalancer['mode'][] = ['Standard', 'Strict', 'Failover', 'Passthrough'];

export function workloadFromProto(w: istio.workload.Workload): Workload {
  const services: Workload['services'] = {};
  for (const [key, list] of Object.entries(w.services)) {
    const ports: Record<string, number> = {};
    for (const p of list.ports) ports[String(p.servicePort)] = p.targetPort;
    services[key] = ports;
  }
  const out: Workload = {
    uid: w.uid,
    name: w.name,
    namespace: w.namespace,
    workloadIps: w.addresses.map((a) => formatIp(a)),
    hostname: w.hostname,
    network: w.network,
    protocol: w.tunnelProtocol === W.TunnelProtocol.HBONE ? 'HBONE' : 'TCP',
    networkMode: w.networkMode === W.NetworkMode.HOST_NETWORK ? 'HostNetwork' : 'Standard',
    trustDomain: w.trustDomain || 'cluster.local',
    serviceAccount: w.serviceAccount || 'default',
    node: w.node,
    canonicalName: w.canonicalName,
    canonicalRevision: w.canonicalRevision,
    workloadType: (W.WorkloadType[w.workloadType] ?? 'DEPLOYMENT').toLowerCase(),
    workloadName: w.workloadName,
    nativeTunnel: w.nativeTunnel,
    authorizationPolicies: [...w.authorizationPolicies],
    status: w.status === W.WorkloadStatus.UNHEALTHY ? 'Unhealthy' : 'Healthy',
    clusterId: w.clusterId || 'Kubernetes',
    capacity: w.capacity ? w.capacity.value : 1,
    services,
  };
  const wp = gateway(w.waypoint);
  if (wp) out.waypoint = wp;
  const gw = gateway(w.networkGateway);
  if (gw) out.networkGateway = gw;
  if (w.locality)
    out.locality = { region: w.locality.region, zone: w.locality.zone, subzone: w.locality.subzone };
  const ext = (name: string) => {
    const any = w.extensions.find((e) => e.name === name)?.config;
    if (!any?.type_url.endsWith('google.protobuf.StringValue')) return undefined;
    return (
      (lookupType('google.protobuf.StringValue').decode(any.value) as unknown as { value: string }).value ||
      undefined
    );
  };
  const netns = ext(NETNS_EXTENSION);
  if (netns) out.netns = netns;
  const podUid = ext(POD_UID_EXTENSION);
  if (podUid) out.podUid = podUid;
  if (w.applicationTunnel) {
    out.applicationTunnel = {
      protocol: w.applicationTunnel.protocol === 1 ? 'PROXY' : 'NONE',
      port: w.applicationTunnel.port,
    };
  }
  return out;
}

export function serviceFromProto(s: istio.workload.Service): Service {
  const ports: Record<string, number> = {};
  for (const p of s.ports) ports[String(p.servicePort)] = p.targetPort;
  const out: Service = {
    name: s.name,
    namespace: s.namespace,
    hostname: s.hostname,
    vips: s.addresses.map((a) => ({ network: a.network, ip: formatIp(a.address) })),
    ports,
    subjectAltNames: [...s.subjectAltNames],
    canonical: s.canonical,
  };
  const wp = gateway(s.waypoint);
  if (wp) out.waypoint = wp;
  if (s.loadBalancing) {
    out.loadBalancer = {
      routingPreferences: s.loadBalancing.routingPreference
        .map((r) => SCOPES[r])
        .filter((x): x is Scope => x !== undefined),
      mode: MODES[s.loadBalancing.mode] ?? 'Standard',
      healthPolicy: s.loadBalancing.healthPolicy === 1 ? 'AllowAll' : 'OnlyHealthy',
    };
  }
  return out;
}
