// Waypoint binding — shared spec waypoint.md §3.2–3.3 (istio `fetchWaypointForTarget`):
// the object's own `istio.io/use-waypoint` label first (`none` opts out), else its
// namespace's; the waypoint namespace is the object's unless `istio.io/use-waypoint-namespace`
// says otherwise; the Gateway must be an `istio-waypoint`, admit the object's namespace on its
// 15008 listener, and serve the traffic type (`istio.io/waypoint-for`: service by default).
import type { ObjectOf } from '@ambient/model';
import { LABELS, nsOf, type Objects, selectorMatches } from './model-view.js';

export type TrafficType = 'service' | 'workload';

export interface WaypointRef {
  namespace: string;
  name: string;
  hostname: string;
}

export interface Binding {
  waypoint?: WaypointRef;
  /** Set when a binding was asked for but cannot be honoured (reported as a warning). */
  problem?: string;
}

export function waypointFor(gw: ObjectOf<'Gateway'>): string {
  return gw.metadata.labels[LABELS.waypointFor] ?? 'service';
}

function admits(gw: ObjectOf<'Gateway'>, fromNs: string, nsLabels: Record<string, string>): boolean {
  const listener = gw.spec.listeners.find((l) => l.port === 15008) ?? gw.spec.listeners[0];
  const from = listener?.allowedRoutes?.namespaces?.from ?? 'Same';
  if (from === 'All') return true;
  if (from === 'Selector')
    return selectorMatches(listener?.allowedRoutes?.namespaces?.selector?.matchLabels, nsLabels);
  return nsOf(gw) === fromNs;
}

export function resolveWaypoint(
  objects: Objects,
  target: { kind: 'Service' | 'Pod'; namespace: string; labels: Record<string, string> },
  domainSuffix: string,
): Binding {
  const ns = objects.Namespace.find((n) => n.metadata.name === target.namespace);
  const nsLabels = ns?.metadata.labels ?? {};
  const own = target.labels[LABELS.useWaypoint];
  const explicit = own !== undefined;
  const name = own ?? nsLabels[LABELS.useWaypoint];
  if (!name || name === 'none') return {};
  const wpNs =
    (explicit ? target.labels[LABELS.useWaypointNamespace] : nsLabels[LABELS.useWaypointNamespace]) ??
    target.namespace;
  const gw = objects.Gateway.find(
    (g) => g.metadata.name === name && nsOf(g) === wpNs && g.spec.gatewayClassName === 'istio-waypoint',
  );
  if (!gw)
    return {
      problem: `waypoint ${wpNs}/${name} does not exist (no Gateway with gatewayClassName istio-waypoint)`,
    };
  if (!admits(gw, target.namespace, nsLabels))
    return { problem: `waypoint ${wpNs}/${name} does not admit namespace ${target.namespace}` };
  const serves = waypointFor(gw);
  const want: TrafficType = target.kind === 'Service' ? 'service' : 'workload';
  if (serves !== 'all' && serves !== want) {
    // A namespace-inherited binding that does not fit is silently ignored; an explicit one is an error.
    return explicit ? { problem: `waypoint ${wpNs}/${name} is for ${serves} traffic, not ${want}` } : {};
  }
  return { waypoint: { namespace: wpNs, name, hostname: `${name}.${wpNs}.svc.${domainSuffix}` } };
}

/** True when a pod is (one of) a waypoint's own pods: waypoints never get a waypoint. */
export function isWaypointPod(pod: ObjectOf<'Pod'>): boolean {
  return (
    pod.metadata.labels['gateway.networking.k8s.io/gateway-name'] !== undefined ||
    pod.metadata.labels['gateway.istio.io/managed'] === 'istio.io-mesh-controller'
  );
}
