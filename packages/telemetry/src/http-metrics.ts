// Istio's HTTP metrics as a waypoint reports them — shared spec waypoint.md §7: the four
// standard metrics, the label set in Istio's order with `reporter="waypoint"`, Envoy's
// default histogram buckets (ms for duration, bytes for sizes), `unknown` for missing values.
import type { Registry } from 'prom-client';
import { type CounterSeries, type HistogramSeries, SeriesCounter, SeriesHistogram } from './series.js';

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
  readonly requests: SeriesCounter;
  readonly duration: SeriesHistogram;
  readonly requestBytes: SeriesHistogram;
  readonly responseBytes: SeriesHistogram;
  private readonly rows = new Map<
    string,
    {
      requests: CounterSeries;
      duration: HistogramSeries;
      requestBytes: HistogramSeries;
      responseBytes: HistogramSeries;
    }
  >();

  constructor(registry: Registry) {
    this.requests = new SeriesCounter(
      'istio_requests_total',
      'Requests handled, by source, destination, response code and flags',
      registry,
    );
    this.duration = new SeriesHistogram(
      'istio_request_duration_milliseconds',
      'Request duration in milliseconds',
      registry,
      ENVOY_BUCKETS,
    );
    this.requestBytes = new SeriesHistogram(
      'istio_request_bytes',
      'Request size in bytes (headers and body received)',
      registry,
      ENVOY_BUCKETS,
    );
    this.responseBytes = new SeriesHistogram(
      'istio_response_bytes',
      'Response size in bytes (headers and body sent)',
      registry,
      ENVOY_BUCKETS,
    );
  }

  /** One request: four series found by one key, then plain arithmetic (see series.ts). */
  record(labels: Partial<HttpLabels>, durationMs: number, requestBytes: number, responseBytes: number): void {
    let key = '';
    for (const k of HTTP_LABELS) key += `${labels[k] ?? ''}\u0000`;
    let row = this.rows.get(key);
    if (!row) {
      const all = () =>
        Object.fromEntries(
          HTTP_LABELS.map((k) => [k, labels[k] || (k === 'grpc_response_status' ? '' : 'unknown')]),
        ) as HttpLabels;
      row = {
        requests: this.requests.series(key, all),
        duration: this.duration.series(key, all),
        requestBytes: this.requestBytes.series(key, all),
        responseBytes: this.responseBytes.series(key, all),
      };
      this.rows.set(key, row);
    }
    row.requests.inc();
    row.duration.observe(durationMs);
    row.requestBytes.observe(requestBytes);
    row.responseBytes.observe(responseBytes);
  }
}
