// Istio's TCP metrics as ztunnel exports them — shared spec ztunnel.md §7.1. Every label of
// the spec; a missing value renders `unknown`; region/zone labels only when locality is
// known (prom-client omits labels that are not given).
import { Counter, Gauge, type Registry } from 'prom-client';

export const TCP_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_service',
  'destination_service_namespace',
  'destination_service_name',
  'destination_workload',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_cluster',
  'request_protocol',
  'response_flags',
  'connection_security_policy',
  'source_region',
  'source_zone',
  'destination_region',
  'destination_zone',
] as const;

export type TcpLabelName = (typeof TCP_LABELS)[number];
export type TcpLabels = Record<TcpLabelName, string>;

/** Response flags ztunnel reports (spec §7.1). */
export type ResponseFlag =
  | '-'
  | 'DENY'
  | 'CONNECT'
  | 'TLS_FAILURE'
  | 'H2_HANDSHAKE_FAILURE'
  | 'NETWORK_POLICY'
  | 'IDENTITY_ERROR'
  | 'CERT_REVOKED';

/** One side of a connection, as telemetry describes it. */
export interface PeerInfo {
  workload?: string;
  namespace?: string;
  canonicalService?: string;
  canonicalRevision?: string;
  /** SPIFFE identity (with spiffe://), when known. */
  principal?: string;
  cluster?: string;
  region?: string;
  zone?: string;
}

export interface ConnectionInfo {
  reporter: 'source' | 'destination';
  source: PeerInfo;
  destination: PeerInfo;
  /** Destination service hostname, and its namespace/name, when the service is known. */
  service?: { hostname: string; namespace: string; name: string };
  mutualTls: boolean;
}

const u = (v: string | undefined) => (v === undefined || v === '' ? 'unknown' : v);

export function tcpLabels(c: ConnectionInfo, flag: ResponseFlag): Partial<TcpLabels> {
  const labels: Partial<TcpLabels> = {
    reporter: c.reporter,
    source_workload: u(c.source.workload),
    source_canonical_service: u(c.source.canonicalService),
    source_canonical_revision: u(c.source.canonicalRevision),
    source_workload_namespace: u(c.source.namespace),
    source_principal: u(c.source.principal),
    source_app: u(c.source.canonicalService),
    source_version: u(c.source.canonicalRevision),
    source_cluster: u(c.source.cluster),
    destination_service: u(c.service?.hostname),
    destination_service_namespace: u(c.service?.namespace),
    destination_service_name: u(c.service?.name),
    destination_workload: u(c.destination.workload),
    destination_canonical_service: u(c.destination.canonicalService),
    destination_canonical_revision: u(c.destination.canonicalRevision),
    destination_workload_namespace: u(c.destination.namespace),
    destination_principal: u(c.destination.principal),
    destination_app: u(c.destination.canonicalService),
    destination_version: u(c.destination.canonicalRevision),
    destination_cluster: u(c.destination.cluster),
    request_protocol: 'tcp',
    response_flags: flag,
    connection_security_policy: c.mutualTls ? 'mutual_tls' : 'unknown',
  };
  if (c.source.region) labels.source_region = c.source.region;
  if (c.source.zone) labels.source_zone = c.source.zone;
  if (c.destination.region) labels.destination_region = c.destination.region;
  if (c.destination.zone) labels.destination_zone = c.destination.zone;
  return labels;
}

export class TcpMetrics {
  readonly opened: Counter<TcpLabelName>;
  readonly closed: Counter<TcpLabelName>;
  readonly failed: Counter<TcpLabelName>;
  readonly received: Counter<TcpLabelName>;
  readonly sent: Counter<TcpLabelName>;
  readonly socketsOpen: Gauge<'reporter'>;

  constructor(registry: Registry) {
    const labelNames = [...TCP_LABELS];
    const counter = (name: string, help: string) =>
      new Counter({ name, help, labelNames, registers: [registry] });
    this.opened = counter('istio_tcp_connections_opened_total', 'The total number of TCP connections opened');
    this.closed = counter('istio_tcp_connections_closed_total', 'The total number of TCP connections closed');
    this.failed = counter(
      'istio_tcp_connections_failed_total',
      'The total number of TCP connections that failed',
    );
    this.received = counter(
      'istio_tcp_received_bytes_total',
      'The size of total bytes received during request in case of a TCP connection',
    );
    this.sent = counter(
      'istio_tcp_sent_bytes_total',
      'The size of total bytes sent during response in case of a TCP connection',
    );
    this.socketsOpen = new Gauge({
      name: 'istio_tcp_sockets_open',
      help: 'The number of open TCP sockets',
      labelNames: ['reporter'],
      registers: [registry],
    });
  }

  /**
   * Records a whole connection once it is complete (or refused). Byte counters follow
   * Istio's convention: `received` is what the client sent, `sent` what it got back.
   */
  record(
    c: ConnectionInfo,
    flag: ResponseFlag,
    bytes: { fromClient: number; toClient: number },
    failed: boolean,
  ): void {
    const labels = tcpLabels(c, flag);
    this.opened.inc(labels);
    this.closed.inc(labels);
    if (failed) this.failed.inc(labels);
    if (bytes.fromClient > 0) this.received.inc(labels, bytes.fromClient);
    if (bytes.toClient > 0) this.sent.inc(labels, bytes.toClient);
  }
}

/** `istio_build{component, tag} 1`. */
export function registerBuildInfo(registry: Registry, component: string, tag: string): void {
  const g = new Gauge({
    name: 'istio_build',
    help: 'Istio component build info',
    labelNames: ['component', 'tag'],
    registers: [registry],
  });
  g.set({ component, tag }, 1);
}

/** xDS client metrics (spec §7.1, unstable set). */
export class XdsMetrics {
  readonly terminations: Counter<'reason'>;
  readonly messages: Counter<'url'>;
  readonly bytes: Counter<'url'>;

  constructor(registry: Registry) {
    this.terminations = new Counter({
      name: 'istio_xds_connection_terminations_total',
      help: 'The total number of completed connections to xds server (unstable)',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.messages = new Counter({
      name: 'istio_xds_message_total',
      help: 'Total number of messages received (unstable)',
      labelNames: ['url'],
      registers: [registry],
    });
    this.bytes = new Counter({
      name: 'istio_xds_message_bytes_total',
      help: 'Total number of bytes received (unstable)',
      labelNames: ['url'],
      registers: [registry],
    });
  }
}
