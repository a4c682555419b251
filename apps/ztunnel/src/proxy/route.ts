// The outbound routing decision — shared spec ztunnel.md §1.6, in order:
//  1. destination IP is a service VIP: through the service's waypoint if it has one
//     (authority = original VIP:port), else pick a healthy endpoint (locality-ranked when
//     the service asks, then random weighted by capacity); none → fail, unless the service
//     is PASSTHROUGH;
//  2. otherwise the destination IP may be a workload;
//  3. a workload reached directly whose own waypoint is set → through that waypoint
//     (unless the connection comes from that waypoint);
//  4. workload with HBONE → `podIP:15008`, authority `podIP:targetPort`; TCP → plain;
//  5. unknown destination → plain TCP passthrough.
// Pure over ProxyState: tested with tables.
import type { ProxyState } from '../state/proxy-state.js';
import {
  type GatewayAddress,
  type Scope,
  type Service,
  serviceKey,
  type Workload,
  workloadIdentity,
} from '../state/types.js';

export const HBONE_PORT = 15008;
/** Ports of ztunnel itself: traffic to them from a pod is a loop (spec §1.1). */
export const ILLEGAL_PORTS = new Set([15001, 15006, 15008]);

export type Route =
  | {
      kind: 'hbone';
      dialIp: string;
      dialPort: number;
      authority: { ip: string; port: number };
      expectedIdentities: string[];
      destination?: Workload;
      service?: Service;
      viaWaypoint: boolean;
    }
  | { kind: 'passthrough'; ip: string; port: number; destination?: Workload; service?: Service }
  | { kind: 'fail'; reason: string; service?: Service };

export interface RouteRequest {
  source: Workload;
  dstIp: string;
  dstPort: number;
  /** Random source for endpoint choice (tests pass a fixed one). */
  random?: () => number;
}

export function routeOutbound(state: ProxyState, req: RouteRequest): Route {
  const network = req.source.network;
  const random = req.random ?? Math.random;
  const svc = state.findServiceByVip(network, req.dstIp);
  if (svc) {
    if (svc.waypoint) {
      return (
        toWaypoint(state, req, svc.waypoint, svc, random) ?? {
          kind: 'fail',
          reason: `waypoint of ${svc.hostname} is unknown`,
          service: svc,
        }
      );
    }
    const picked = pickEndpoint(state, svc, req.dstPort, req.source, random);
    if (!picked) {
      if (svc.loadBalancer?.mode === 'Passthrough')
        return { kind: 'passthrough', ip: req.dstIp, port: req.dstPort, service: svc };
      return { kind: 'fail', reason: `no healthy upstream for ${svc.hostname}:${req.dstPort}`, service: svc };
    }
    return toWorkload(picked.workload, picked.port, svc);
  }
  const wl = state.findWorkloadByIp(network, req.dstIp);
  if (!wl) return { kind: 'passthrough', ip: req.dstIp, port: req.dstPort };
  if (wl.waypoint && !isFromWaypoint(state, req, wl.waypoint)) {
    const via = toWaypoint(state, req, wl.waypoint, undefined, random);
    if (via?.kind === 'hbone') return { ...via, destination: wl };
  }
  return toWorkload(wl, req.dstPort, undefined, req.dstIp);
}

function toWorkload(w: Workload, port: number, svc?: Service, ip?: string): Route {
  const addr = ip ?? w.workloadIps[0]!;
  if (w.protocol === 'HBONE') {
    return {
      kind: 'hbone',
      dialIp: addr,
      dialPort: HBONE_PORT,
      authority: { ip: addr, port },
      expectedIdentities: [workloadIdentity(w), ...(svc?.subjectAltNames ?? [])],
      destination: w,
      ...(svc ? { service: svc } : {}),
      viaWaypoint: false,
    };
  }
  return { kind: 'passthrough', ip: addr, port, destination: w, ...(svc ? { service: svc } : {}) };
}

/** Resolves a GatewayAddress to the waypoint workload to dial. */
function resolveWaypoint(
  state: ProxyState,
  gw: GatewayAddress,
  source: Workload,
  random: () => number,
): { workload: Workload; ip: string; service?: Service } | undefined {
  if (gw.destination.kind === 'address') {
    const { network, ip } = gw.destination;
    const w = state.findWorkloadByIp(network, ip);
    if (w) return { workload: w, ip };
    const s = state.findServiceByVip(network, ip);
    if (!s) return undefined;
    const picked = pickEndpoint(state, s, HBONE_PORT, source, random, true);
    return picked
      ? { workload: picked.workload, ip: picked.workload.workloadIps[0]!, service: s }
      : undefined;
  }
  const s = state.findService(`${gw.destination.namespace}/${gw.destination.hostname}`);
  if (!s) return undefined;
  const picked = pickEndpoint(state, s, HBONE_PORT, source, random, true);
  return picked ? { workload: picked.workload, ip: picked.workload.workloadIps[0]!, service: s } : undefined;
}

function toWaypoint(
  state: ProxyState,
  req: RouteRequest,
  gw: GatewayAddress,
  svc: Service | undefined,
  random: () => number,
): Route | undefined {
  const wp = resolveWaypoint(state, gw, req.source, random);
  if (!wp) return undefined;
  return {
    kind: 'hbone',
    dialIp: wp.ip,
    dialPort: gw.hboneMtlsPort || HBONE_PORT,
    // Through a waypoint the authority is the ORIGINAL destination: the waypoint balances.
    authority: { ip: req.dstIp, port: req.dstPort },
    expectedIdentities: [workloadIdentity(wp.workload), ...(wp.service?.subjectAltNames ?? [])],
    ...(svc ? { service: svc } : {}),
    viaWaypoint: true,
  };
}

function isFromWaypoint(state: ProxyState, req: RouteRequest, gw: GatewayAddress): boolean {
  if (gw.destination.kind === 'address') return req.source.workloadIps.includes(gw.destination.ip);
  const s = state.findService(`${gw.destination.namespace}/${gw.destination.hostname}`);
  return s ? state.findEndpoints(s).some((w) => w.uid === req.source.uid) : false;
}

/**
 * Chooses an endpoint of `svc` for `port`: it must expose the port, be healthy (unless the
 * service allows all), and — for STRICT/FAILOVER services — rank best on the routing
 * preferences; then random, weighted by capacity.
 */
export function pickEndpoint(
  state: ProxyState,
  svc: Service,
  port: number,
  source: Workload,
  random: () => number,
  anyPort = false,
): { workload: Workload; port: number } | undefined {
  const key = serviceKey(svc);
  const allowAll = svc.loadBalancer?.healthPolicy === 'AllowAll';
  let candidates: { workload: Workload; port: number; rank: number }[] = [];
  for (const w of state.findEndpoints(svc)) {
    if (w.workloadIps.length === 0) continue;
    if (!allowAll && w.status !== 'Healthy') continue;
    const ports = w.services[key]!;
    let target: number | undefined;
    if (anyPort) target = port;
    else {
      const byEndpoint = ports[String(port)];
      const bySvc = svc.ports[String(port)];
      if (byEndpoint !== undefined && byEndpoint !== 0) target = byEndpoint;
      else if (bySvc !== undefined && bySvc !== 0) target = bySvc;
      else if (byEndpoint === undefined && bySvc === undefined) continue;
      else continue; // named target port with no resolution on this endpoint
    }
    candidates.push({ workload: w, port: target, rank: rankLocality(svc, w, source) });
  }
  const mode = svc.loadBalancer?.mode;
  if ((mode === 'Strict' || mode === 'Failover') && candidates.length > 0) {
    const prefs = svc.loadBalancer!.routingPreferences.length;
    if (mode === 'Strict') candidates = candidates.filter((c) => c.rank === prefs);
    const best = Math.max(-1, ...candidates.map((c) => c.rank));
    candidates = candidates.filter((c) => c.rank === best);
  }
  if (candidates.length === 0) return undefined;
  const total = candidates.reduce((s, c) => s + Math.max(0, c.workload.capacity), 0);
  if (total === 0) return undefined;
  let r = random() * total;
  for (const c of candidates) {
    r -= Math.max(0, c.workload.capacity);
    if (r < 0) return { workload: c.workload, port: c.port };
  }
  const last = candidates[candidates.length - 1]!;
  return { workload: last.workload, port: last.port };
}

/** How many leading routing-preference scopes the endpoint shares with the source. */
function rankLocality(svc: Service, w: Workload, src: Workload): number {
  const prefs = svc.loadBalancer?.routingPreferences ?? [];
  let rank = 0;
  for (const scope of prefs) {
    if (!sameScope(scope, w, src)) break;
    rank++;
  }
  return rank;
}

function sameScope(scope: Scope, a: Workload, b: Workload): boolean {
  switch (scope) {
    case 'Network':
      return a.network === b.network;
    case 'Region':
      return (a.locality?.region ?? '') === (b.locality?.region ?? '');
    case 'Zone':
      return (a.locality?.zone ?? '') === (b.locality?.zone ?? '') && sameScope('Region', a, b);
    case 'Subzone':
      return (a.locality?.subzone ?? '') === (b.locality?.subzone ?? '') && sameScope('Zone', a, b);
    case 'Node':
      return a.node === b.node;
    case 'Cluster':
      return a.clusterId === b.clusterId;
  }
}
