// Which services each waypoint serves, and how a host written in a VirtualService,
// DestinationRule or HTTPRoute resolves to a Service — shared spec waypoint.md §1.1 (hosts
// are relative to the object's namespace), §3.3 (bindings).
import type { ObjectOf } from '@ambient/model';
import { nsOf, type Objects, type TranslateOptions } from '../model-view.js';
import { resolveWaypoint, type WaypointRef } from '../waypoints.js';
import { serviceHostname } from '../workloads.js';

export interface BoundService {
  svc: ObjectOf<'Service'>;
  host: string;
  waypoint: WaypointRef;
}

export class ServiceIndex {
  readonly byHost = new Map<string, ObjectOf<'Service'>>();
  /** Services bound to a waypoint, by FQDN. */
  readonly bound = new Map<string, BoundService>();

  constructor(
    readonly objects: Objects,
    readonly o: TranslateOptions,
  ) {
    for (const svc of objects.Service) {
      if (svc.spec.type === 'ExternalName') continue;
      const host = serviceHostname(svc, o);
      this.byHost.set(host, svc);
      const b = resolveWaypoint(
        objects,
        { kind: 'Service', namespace: nsOf(svc), labels: svc.metadata.labels },
        o.domainSuffix,
      );
      // A waypoint's own Service never gets a waypoint.
      if (b.waypoint && !(b.waypoint.name === svc.metadata.name && b.waypoint.namespace === nsOf(svc)))
        this.bound.set(host, { svc, host, waypoint: b.waypoint });
    }
  }

  /** `reviews` / `reviews.bookinfo` / `reviews.bookinfo.svc` / FQDN, relative to `fromNs`. */
  fqdn(host: string, fromNs: string): string {
    const suffix = this.o.domainSuffix;
    if (host.endsWith(`.svc.${suffix}`)) return host;
    const parts = host.split('.');
    if (parts.length === 1) return `${host}.${fromNs}.svc.${suffix}`;
    if (parts.length === 2) return `${host}.svc.${suffix}`;
    if (parts.length === 3 && parts[2] === 'svc') return `${host}.${suffix}`;
    return host;
  }

  resolve(host: string, fromNs: string): ObjectOf<'Service'> | undefined {
    return this.byHost.get(this.fqdn(host, fromNs));
  }

  /** Whether a VirtualService `hosts` entry (maybe a wildcard) names the service. */
  hostMatches(pattern: string, fromNs: string, host: string): boolean {
    if (pattern === '*') return true;
    if (pattern.startsWith('*.')) return host.endsWith(pattern.slice(1));
    return this.fqdn(pattern, fromNs) === host;
  }
}
