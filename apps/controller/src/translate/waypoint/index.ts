// The model → what waypoints receive: a RouteConfiguration per bound service port (named
// like Istio's `inbound-vip|port|http|host` clusters), the Clusters and ClusterLoadAssignments
// the routes use, and the L7 security policies (shared spec waypoint.md §0–§5).
import type { ObjectOf } from '@ambient/model';
import type { ambient, envoy, Init } from '@ambient/proto';
import { nsOf, type Objects, type TranslateOptions } from '../model-view.js';
import { isEnrolled } from '../workloads.js';
import {
  buildCluster,
  buildLoadAssignment,
  type ClusterRef,
  clusterName,
  destinationRuleFor,
  durationOf,
  effectivePolicy,
} from './clusters.js';
import { translateWaypointPolicies } from './policies.js';
import { defaultRoute, httpRouteRoutes, type RouteContext, virtualServiceRoutes } from './routes.js';
import { ServiceIndex } from './services.js';

export interface WaypointTranslation {
  routes: Map<string, Init<envoy.config.route.v3.RouteConfiguration>>;
  clusters: Map<string, Init<envoy.config.cluster.v3.Cluster>>;
  endpoints: Map<string, Init<envoy.config.endpoint.v3.ClusterLoadAssignment>>;
  policies: Map<string, Init<ambient.security.v1.WaypointPolicy>>;
  warnings: string[];
}

/** Ports a waypoint handles as TCP (no L7): declared so by name or appProtocol. */
export function isTcpPort(p: ObjectOf<'Service'>['spec']['ports'][number]): boolean {
  const v = (p.appProtocol ?? p.name ?? '').toLowerCase();
  return /^(tcp|tls|mongo|mysql|redis)(-|$)/.test(v);
}

export function routeConfigName(port: number, host: string): string {
  return `inbound-vip|${port}|http|${host}`;
}

export function translateWaypoints(objects: Objects, o: TranslateOptions): WaypointTranslation {
  const idx = new ServiceIndex(objects, o);
  const out: WaypointTranslation = {
    routes: new Map(),
    clusters: new Map(),
    endpoints: new Map(),
    policies: new Map(),
    warnings: [],
  };
  const warn = (m: string) => out.warnings.push(m);
  const refs = new Map<string, ClusterRef & { waypointNs: string }>();
  const nsByName = new Map(objects.Namespace.map((n) => [n.metadata.name, n]));

  for (const bound of idx.bound.values()) {
    for (const p of bound.svc.spec.ports) {
      const port = p.port;
      const ctx: RouteContext = {
        idx,
        bound,
        port,
        warn,
        cluster: (ref) => {
          const name = clusterName(ref.host, ref.port, ref.subset, idx.bound.has(ref.host));
          if (!refs.has(name)) refs.set(name, { ...ref, name, waypointNs: bound.waypoint.namespace });
          return name;
        },
        hashPolicy: (ref) => {
          const dr = destinationRuleFor(idx, ref.host, [bound.waypoint.namespace, nsOf(ref.svc)]);
          const ch = effectivePolicy(dr, ref.port, ref.subset).loadBalancer?.consistentHash;
          if (!ch) return undefined;
          if (ch.httpHeaderName) return [{ header: { headerName: ch.httpHeaderName.toLowerCase() } }];
          if (ch.httpCookie)
            return [
              {
                cookie: {
                  name: ch.httpCookie.name,
                  ...(ch.httpCookie.path ? { path: ch.httpCookie.path } : {}),
                  ...(ch.httpCookie.ttl ? { ttl: durationOf(ch.httpCookie.ttl) } : {}),
                },
              },
            ];
          if (ch.useSourceIp) return [{ connectionProperties: { sourceIp: true } }];
          if (ch.httpQueryParameterName) return [{ queryParameter: { name: ch.httpQueryParameterName } }];
          return [];
        },
      };
      // The service's own cluster always exists (TCP ports and the default route use it).
      ctx.cluster({ svc: bound.svc, host: bound.host, port });
      if (isTcpPort(p)) continue;
      const vsRoutes = virtualServiceRoutes(ctx);
      const hrRoutes = httpRouteRoutes(ctx);
      if (vsRoutes && hrRoutes)
        warn(
          `Service/${nsOf(bound.svc)}/${bound.svc.metadata.name}: both a VirtualService and an HTTPRoute apply; Istio leaves this undefined — the HTTPRoute is used`,
        );
      const routes = hrRoutes ?? vsRoutes ?? [defaultRoute(ctx)];
      const name = routeConfigName(port, bound.host);
      out.routes.set(name, {
        name,
        virtualHosts: [{ name: `inbound|http|${port}`, domains: ['*'], routes }],
      });
    }
  }

  for (const ref of refs.values()) {
    const dr = destinationRuleFor(idx, ref.host, [ref.waypointNs, nsOf(ref.svc)]);
    let subsetLabels: Record<string, string> | undefined;
    if (ref.subset) {
      const sub = dr?.spec.subsets?.find((s) => s.name === ref.subset);
      if (!sub) {
        warn(
          `subset ${ref.subset} of ${ref.host} is not defined by any DestinationRule: requests routed to it get 503 (NC)`,
        );
        continue;
      }
      subsetLabels = sub.labels;
    }
    const policy = effectivePolicy(dr, ref.port, ref.subset);
    if (policy.loadBalancer?.simple === 'PASSTHROUGH' && dr)
      warn(
        `DestinationRule/${nsOf(dr)}/${dr.metadata.name}: loadBalancer PASSTHROUGH is not supported by waypoints (LEAST_REQUEST used)`,
      );
    const cluster = buildCluster(ref, policy);
    out.clusters.set(ref.name, cluster);
    out.endpoints.set(
      ref.name,
      buildLoadAssignment(ref, idx, subsetLabels, (pod) => isEnrolled(pod, nsByName.get(nsOf(pod)))),
    );
  }
  out.policies = translateWaypointPolicies(objects, idx, o, warn);
  return out;
}
