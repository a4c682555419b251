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
  private readonly children = new Map<
    string,
    {
      requests: ReturnType<Counter<HttpLabelName>['labels']>;
      duration: ReturnType<Histogram<HttpLabelName>['labels']>;
      requestBytes: ReturnType<Histogram<HttpLabelName>['labels']>;
      responseBytes: ReturnType<Histogram<HttpLabelName>['labels']>;
    }
  >();

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

  /**
   * One request. The label children are cached by their values: prom-client would sort and
   * hash 25 labels four times per request otherwise (seen in a CPU profile of the waypoint).
   */
  record(labels: Partial<HttpLabels>, durationMs: number, requestBytes: number, responseBytes: number): void {
    const values = HTTP_LABELS.map((k) => labels[k] || (k === 'grpc_response_status' ? '' : 'unknown'));
    const key = values.join('\u0000');
    let c = this.children.get(key);
    if (!c) {
      const l = Object.fromEntries(HTTP_LABELS.map((k, i) => [k, values[i]!])) as HttpLabels;
      c = {
        requests: this.requests.labels(l),
        duration: this.duration.labels(l),
        requestBytes: this.requestBytes.labels(l),
        responseBytes: this.responseBytes.labels(l),
      };
      // Bounded: label sets come from config and peers; past the bound, children are not cached.
      if (this.children.size < 10_000) this.children.set(key, c);
    }
    c.requests.inc();
    c.duration.observe(durationMs);
    c.requestBytes.observe(requestBytes);
    c.responseBytes.observe(responseBytes);
  }
}
