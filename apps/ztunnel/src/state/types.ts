// ztunnel's internal model of the mesh, in the camelCase shapes ztunnel itself uses: they
// are the LOCAL_XDS_PATH file format and what /config_dump shows (shared spec ztunnel.md §4,
// §7.3). xDS protos are converted into these at the edge (convert.ts).

export interface NetworkIp {
  network: string;
  ip: string;
}

export type GatewayDestination =
  | { kind: 'address'; network: string; ip: string }
  | { kind: 'hostname'; namespace: string; hostname: string };

export interface GatewayAddress {
  destination: GatewayDestination;
  hboneMtlsPort: number;
}

export interface Locality {
  region: string;
  zone: string;
  subzone: string;
}

export interface Workload {
  uid: string;
  name: string;
  namespace: string;
  workloadIps: string[];
  hostname: string;
  network: string;
  protocol: 'TCP' | 'HBONE';
  networkMode: 'Standard' | 'HostNetwork';
  trustDomain: string;
  serviceAccount: string;
  waypoint?: GatewayAddress;
  networkGateway?: GatewayAddress;
  node: string;
  canonicalName: string;
  canonicalRevision: string;
  workloadType: string;
  workloadName: string;
  nativeTunnel: boolean;
  applicationTunnel?: { protocol: 'NONE' | 'PROXY'; port?: number };
  authorizationPolicies: string[];
  status: 'Healthy' | 'Unhealthy';
  clusterId: string;
  locality?: Locality;
  capacity: number;
  /** `"<ns>/<hostname>"` → service port → target port (0 = named port, unresolved). */
  services: Record<string, Record<string, number>>;
  /**
   * The pod's network namespace (a path such as /var/run/netns/<name>) for in-pod capture.
   * Ours, not Istio's: istio-cni hands ztunnel the namespace over ZDS; without a CNI agent it
   * comes from the local file's `netns` key or the xDS extension `ambient.dev/netns`.
   */
  netns?: string;
  /** The Kubernetes pod UID (xDS extension `ambient.dev/pod-uid`): finds the netns in /proc. */
  podUid?: string;
}

/** Name of the Workload extension that carries the netns path over xDS (a StringValue). */
export const NETNS_EXTENSION = 'ambient.dev/netns';
export const POD_UID_EXTENSION = 'ambient.dev/pod-uid';

export type Scope = 'Region' | 'Zone' | 'Subzone' | 'Node' | 'Cluster' | 'Network';

export interface LoadBalancer {
  routingPreferences: Scope[];
  mode: 'Standard' | 'Strict' | 'Failover' | 'Passthrough';
  healthPolicy: 'OnlyHealthy' | 'AllowAll';
}

export interface Service {
  name: string;
  namespace: string;
  hostname: string;
  vips: NetworkIp[];
  /** service port → target port. */
  ports: Record<string, number>;
  subjectAltNames: string[];
  waypoint?: GatewayAddress;
  loadBalancer?: LoadBalancer;
  canonical: boolean;
}

/** `"<namespace>/<hostname>"`, the key of a service everywhere. */
export function serviceKey(s: { namespace: string; hostname: string }): string {
  return `${s.namespace}/${s.hostname}`;
}

// Workload objects are never modified in place (an xDS update replaces the object), so the
// identity is built once per object — not once per connection, as every connection needs it.
const identities = new WeakMap<Workload, string>();

export function workloadIdentity(w: Workload): string {
  let id = identities.get(w);
  if (id === undefined) {
    id = `spiffe://${w.trustDomain || 'cluster.local'}/ns/${w.namespace}/sa/${w.serviceAccount || 'default'}`;
    identities.set(w, id);
  }
  return id;
}
