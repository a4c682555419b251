// Istio's HTTP metrics as a waypoint reports them — shared spec waypoint.md §7: the four
// standard metrics, the label set in Istio's order with `reporter="waypoint"`, Envoy's
// default histogram buckets (ms for duration, bytes for sizes), `unknown` for missing values.
import { Counter, Histogram, type Registry } from 'prom-client';

export const HTTP_LABELS = [
  'reporter',
  'source_workload',
  'source_canonical_service',
  'source_canonical_revision',
  'source_workload_namespace',
  'source_principal',
  'source_app',
  'source_version',
  'source_cluster',
  'destination_workload',
  'destination_workload_namespace',
  'destination_principal',
  'destination_app',
  'destination_version',
  'destination_service',
  'destination_canonical_service',
  'destination_canonical_revision',
  'destination_service_name',
  'destination_service_namespace',
  'destination_cluster',
  'request_protocol',
  'response_code',
  'grpc_response_status',
  'response_flags',
  'connection_security_policy',
] as const;

export type HttpLabelName = (typeof HTTP_LABELS)[number];
export type HttpLabels = Record<HttpLabelName, string>;

/** Envoy's default histogram buckets (spec §7.3). */
export const ENVOY_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

export class HttpMetrics {
  readonly requests: Counter<HttpLabelName>;
  readonly duration: Histogram<HttpLabelName>;
  readonly requestBytes: Histogram<HttpLabelName>;
  readonly responseBytes: Histogram<HttpLabelName>;

  constructor(registry: Registry) {
    const labelNames = [...HTTP_LABELS];
    this.requests = new Counter({
      name: 'istio_requests_total',
      help: 'Requests handled, by source, destination, response code and flags',
      labelNames,
      registers: [registry],
    });
    this.duration = new Histogram({
      name: 'istio_request_duration_milliseconds',
      help: 'Request duration in milliseconds',
      labelNames,
      buckets: ENVOY_BUCKETS,
      registers: [registry],
    });
    this.requestBytes = new Histogram({
      name: 'istio_request_bytes',
      help: 'Request size in bytes (headers and body received)',
      labelNames,
      buckets: ENVOY_BUCKETS,
      registers: [registry],
    });
    this.responseBytes = new Histogram({
      name: 'istio_response_bytes',
      help: 'Response size in bytes (headers and body sent)',
      labelNames,
      buckets: ENVOY_BUCKETS,
      registers: [registry],
    });
  }

  record(labels: Partial<HttpLabels>, durationMs: number, requestBytes: number, responseBytes: number): void {
    const l = Object.fromEntries(
      HTTP_LABELS.map((k) => [k, labels[k] || (k === 'grpc_response_status' ? '' : 'unknown')]),
    ) as HttpLabels;
    this.requests.inc(l);
    this.duration.observe(l, durationMs);
    this.requestBytes.observe(l, requestBytes);
    this.responseBytes.observe(l, responseBytes);
  }
}
