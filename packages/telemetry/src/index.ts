// @ambient/telemetry — Istio metrics, access logs, and the admin / stats / readiness servers.

export type { Logger } from 'pino';
export { Counter, Gauge, Histogram, Registry } from 'prom-client';
export { AccessLog, type AccessLogEntry, createLogger, type LoggerOptions } from './access-log.js';
export { ConfigError, EnvReader, type HostPort, parseHostPort, runMain } from './config-env.js';
export {
  ENVOY_BUCKETS,
  HTTP_LABELS,
  type HttpLabelName,
  type HttpLabels,
  HttpMetrics,
} from './http-metrics.js';
export { Readiness } from './readiness.js';
export { type CounterSeries, type HistogramSeries, SeriesCounter, SeriesHistogram } from './series.js';
export {
  type AdminHandlers,
  type BoundServer,
  startAdminServer,
  startReadinessServer,
  startStatsServer,
} from './servers.js';
export {
  type ConnectionInfo,
  type PeerInfo,
  type ResponseFlag,
  registerBuildInfo,
  TCP_LABELS,
  type TcpLabelName,
  type TcpLabels,
  TcpMetrics,
  tcpLabels,
  XdsMetrics,
} from './tcp-metrics.js';
