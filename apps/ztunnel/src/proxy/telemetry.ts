// Connection telemetry: one metrics record and one access-log line per connection, from
// what the state knows about both ends (shared spec ztunnel.md §7.1, §7.2).
import type { AccessLog, ConnectionInfo, PeerInfo, TcpMetrics } from '@ambient/telemetry';
import { type Service, type Workload, workloadIdentity } from '../state/types.js';
import { type ProxyError, responseFlag } from './errors.js';

// One PeerInfo per workload object (xDS replaces the object when the workload changes), shared
// by every connection of that workload: 10,000 connections need not carry 10,000 copies.
// Read-only by contract: telemetry reads it, nothing writes to it.
const peers = new WeakMap<Workload, PeerInfo>();

export function peerOf(w: Workload | undefined, principal?: string): PeerInfo {
  if (!w) return principal ? { principal } : {};
  const own = principal === undefined || principal === workloadIdentity(w);
  const cached = own ? peers.get(w) : undefined;
  if (cached) return cached;
  const p: PeerInfo = {
    workload: w.workloadName || w.name,
    namespace: w.namespace,
    canonicalService: w.canonicalName,
    canonicalRevision: w.canonicalRevision,
    principal: principal ?? workloadIdentity(w),
    cluster: w.clusterId,
  };
  if (w.locality?.region) p.region = w.locality.region;
  if (w.locality?.zone) p.zone = w.locality.zone;
  if (own) peers.set(w, p);
  return p;
}

export function serviceInfo(s: Service | undefined): ConnectionInfo['service'] {
  return s ? { hostname: s.hostname, namespace: s.namespace, name: s.name } : undefined;
}

export interface ConnectionRecord {
  info: ConnectionInfo;
  srcAddr: string;
  dstAddr: string;
  hboneAddr?: string;
  startedAt: number;
  bytesFromClient: number;
  bytesToClient: number;
  error?: ProxyError;
  policy?: string;
}

export class ConnectionTelemetry {
  constructor(
    private readonly metrics: TcpMetrics,
    private readonly access: AccessLog,
  ) {}

  complete(r: ConnectionRecord): void {
    const flag = responseFlag(r.error);
    const { info } = r;
    this.metrics.record(
      info,
      flag,
      { fromClient: r.bytesFromClient, toClient: r.bytesToClient },
      r.error !== undefined,
    );
    const src = info.source;
    const dst = info.destination;
    const direction = info.reporter === 'source' ? 'outbound' : 'inbound';
    this.access.complete({
      direction,
      'src.addr': r.srcAddr,
      ...(src.workload ? { 'src.workload': src.workload } : {}),
      ...(src.namespace ? { 'src.namespace': src.namespace } : {}),
      ...(info.mutualTls && src.principal ? { 'src.identity': src.principal } : {}),
      'dst.addr': r.dstAddr,
      ...(r.hboneAddr ? { 'dst.hbone_addr': r.hboneAddr } : {}),
      ...(info.service ? { 'dst.service': info.service.hostname } : {}),
      ...(dst.workload ? { 'dst.workload': dst.workload } : {}),
      ...(dst.namespace ? { 'dst.namespace': dst.namespace } : {}),
      ...(info.mutualTls && dst.principal ? { 'dst.identity': dst.principal } : {}),
      // Logs use the client's view: sent = to the client's peer, recv = back to the client.
      bytes_sent: r.bytesFromClient,
      bytes_recv: r.bytesToClient,
      duration: `${Math.round(performance.now() - r.startedAt)}ms`,
      ...(flag !== '-' ? { response_flags: flag } : {}),
      ...(r.error ? { error: r.error.message } : {}),
      ...(r.policy ? { policy: r.policy } : {}),
    });
  }
}
