// A read-only view of the objects the translation needs, indexed once per translation.
import type { ObjectOf } from '@ambient/model';

export interface Objects {
  Namespace: ObjectOf<'Namespace'>[];
  Pod: ObjectOf<'Pod'>[];
  Service: ObjectOf<'Service'>[];
  EndpointSlice?: ObjectOf<'EndpointSlice'>[];
  AuthorizationPolicy: ObjectOf<'AuthorizationPolicy'>[];
  PeerAuthentication: ObjectOf<'PeerAuthentication'>[];
  Gateway: ObjectOf<'Gateway'>[];
  VirtualService?: ObjectOf<'VirtualService'>[];
  DestinationRule?: ObjectOf<'DestinationRule'>[];
  HTTPRoute?: ObjectOf<'HTTPRoute'>[];
  RequestAuthentication?: ObjectOf<'RequestAuthentication'>[];
}

export interface TranslateOptions {
  clusterId: string;
  trustDomain: string;
  domainSuffix: string;
  rootNamespace: string;
  network: string;
  /**
   * The keys behind a RequestAuthentication's `jwksUri`, as the controller fetched them
   * (istiod's default: waypoints never fetch URLs a policy names). Undefined: the URI is
   * passed through for the waypoint to fetch (`PILOT_JWT_ENABLE_REMOTE_JWKS=envoy`).
   */
  jwks?: (uri: string) => { jwks: string } | { error: string };
}

export const DEFAULT_OPTIONS: TranslateOptions = {
  clusterId: 'Kubernetes',
  trustDomain: 'cluster.local',
  domainSuffix: 'cluster.local',
  rootNamespace: 'istio-system',
  network: '',
};

export const LABELS = {
  dataplaneMode: 'istio.io/dataplane-mode',
  useWaypoint: 'istio.io/use-waypoint',
  useWaypointNamespace: 'istio.io/use-waypoint-namespace',
  waypointFor: 'istio.io/waypoint-for',
  netnsAnnotation: 'ambient.dev/netns',
  podUidExtension: 'ambient.dev/pod-uid',
  dryRun: 'istio.io/dry-run',
} as const;

export function selectorMatches(
  selector: Record<string, string> | undefined,
  labels: Record<string, string>,
): boolean {
  if (!selector) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

export function nsOf(o: { metadata: { namespace?: string | undefined } }): string {
  return o.metadata.namespace ?? 'default';
}
