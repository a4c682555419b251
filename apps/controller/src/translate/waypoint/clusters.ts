// DestinationRule → Envoy Cluster, and a service's pods → ClusterLoadAssignment — shared spec
// waypoint.md §0 (cluster names), §2.1 (subsets, inheritance), §2.2 (load balancer), §2.3
// (circuit breakers: Istio's 2^32−1 defaults), §2.4 (outlier detection mapping, panic
// threshold = minHealthPercent, 0 by default).
import { durationMs, type ObjectOf, type TrafficPolicy } from '@ambient/model';
import type { envoy, Init } from '@ambient/proto';
import { nsOf, selectorMatches } from '../model-view.js';
import { podIps, podReady, resolveTargetPort, workloadNameOf } from '../workloads.js';
import type { ServiceIndex } from './services.js';

type Cluster = Init<envoy.config.cluster.v3.Cluster>;
type Cla = Init<envoy.config.endpoint.v3.ClusterLoadAssignment>;

const MAX_U32 = 4294967295;
/** Envoy's LbPolicy enum values (cluster.proto). */
export const LB = {
  ROUND_ROBIN: 0,
  LEAST_REQUEST: 1,
  RING_HASH: 2,
  RANDOM: 3,
  MAGLEV: 5,
  CLUSTER_PROVIDED: 6,
};
const EDS = 3;

export interface ClusterRef {
  name: string;
  svc: ObjectOf<'Service'>;
  host: string;
  port: number;
  subset?: string;
}

/**
 * Istio's names: `inbound-vip|port|http[/subset]|host` for a service the waypoint serves,
 * `outbound|port|subset|host` for any other destination.
 */
export function clusterName(host: string, port: number, subset: string | undefined, local: boolean): string {
  return local
    ? `inbound-vip|${port}|http${subset ? `/${subset}` : ''}|${host}`
    : `outbound|${port}|${subset ?? ''}|${host}`;
}

export function durationOf(d: string | undefined): Init<{ seconds: number; nanos: number }> | undefined {
  if (d === undefined) return undefined;
  const ms = durationMs(d);
  return { seconds: Math.floor(ms / 1000), nanos: Math.round((ms % 1000) * 1e6) };
}

/** The DestinationRule for a host: the waypoint's namespace, then the service's, then the root. */
export function destinationRuleFor(
  idx: ServiceIndex,
  host: string,
  namespaces: string[],
): ObjectOf<'DestinationRule'> | undefined {
  const drs = (idx.objects.DestinationRule ?? []).filter((dr) => idx.fqdn(dr.spec.host, nsOf(dr)) === host);
  for (const ns of [...namespaces, idx.o.rootNamespace]) {
    const found = drs.find((dr) => nsOf(dr) === ns);
    if (found) return found;
  }
  return undefined;
}

/** DR-level policy, port-level override (no inheritance), then the subset's, group by group. */
export function effectivePolicy(
  dr: ObjectOf<'DestinationRule'> | undefined,
  port: number,
  subset: string | undefined,
): TrafficPolicy {
  const forPort = (tp: TrafficPolicy | undefined): TrafficPolicy => {
    if (!tp) return {};
    const pls = tp.portLevelSettings?.find((p) => p.port?.number === port);
    if (!pls) return tp;
    const { port: _p, ...groups } = pls;
    return { ...groups, tls: groups.tls ?? tp.tls };
  };
  const base = forPort(dr?.spec.trafficPolicy);
  const sub = subset ? dr?.spec.subsets?.find((s) => s.name === subset) : undefined;
  const over = forPort(sub?.trafficPolicy);
  return {
    loadBalancer: over.loadBalancer ?? base.loadBalancer,
    connectionPool: over.connectionPool ?? base.connectionPool,
    outlierDetection: over.outlierDetection ?? base.outlierDetection,
    tls: over.tls ?? base.tls,
  };
}

export function buildCluster(ref: ClusterRef, policy: TrafficPolicy): Cluster {
  const lb = policy.loadBalancer;
  let lbPolicy = LB.LEAST_REQUEST;
  if (lb?.consistentHash) lbPolicy = lb.consistentHash.maglev ? LB.MAGLEV : LB.RING_HASH;
  else if (lb?.simple === 'ROUND_ROBIN') lbPolicy = LB.ROUND_ROBIN;
  else if (lb?.simple === 'RANDOM') lbPolicy = LB.RANDOM;
  else if (lb?.simple === 'PASSTHROUGH') lbPolicy = LB.CLUSTER_PROVIDED;
  const tcp = policy.connectionPool?.tcp;
  const http = policy.connectionPool?.http;
  const threshold = (v: number | undefined) => ({ value: v && v > 0 ? v : MAX_U32 });
  const cluster: Cluster = {
    name: ref.name,
    type: EDS,
    edsClusterConfig: { serviceName: ref.name },
    connectTimeout: durationOf(tcp?.connectTimeout ?? '10s'),
    lbPolicy,
    circuitBreakers: {
      thresholds: [
        {
          maxConnections: threshold(tcp?.maxConnections),
          maxPendingRequests: threshold(http?.http1MaxPendingRequests),
          maxRequests: threshold(http?.http2MaxRequests),
          maxRetries: threshold(http?.maxRetries),
        },
      ],
    },
    metadata: {
      filterMetadata: {
        istio: {
          fields: {
            services: {
              listValue: {
                values: [
                  {
                    structValue: {
                      fields: {
                        host: { stringValue: ref.host },
                        name: { stringValue: ref.svc.metadata.name },
                        namespace: { stringValue: nsOf(ref.svc) },
                      },
                    },
                  },
                ],
              },
            },
            ...(ref.subset ? { subset: { stringValue: ref.subset } } : {}),
          },
        },
      },
    },
  };
  if (http?.maxRequestsPerConnection)
    cluster.maxRequestsPerConnection = { value: http.maxRequestsPerConnection };
  const ringSize = lb?.consistentHash?.ringHash?.minimumRingSize ?? lb?.consistentHash?.minimumRingSize;
  if (ringSize) cluster.ringHashLbConfig = { minimumRingSize: { value: ringSize } };
  const od = policy.outlierDetection;
  if (od) {
    cluster.outlierDetection = {
      enforcingSuccessRate: { value: 0 },
      ...(od.consecutive5xxErrors !== undefined
        ? {
            consecutive_5xx: { value: od.consecutive5xxErrors },
            enforcingConsecutive_5xx: { value: od.consecutive5xxErrors > 0 ? 100 : 0 },
          }
        : {}),
      ...(od.consecutiveGatewayErrors !== undefined
        ? {
            consecutiveGatewayFailure: { value: od.consecutiveGatewayErrors },
            enforcingConsecutiveGatewayFailure: { value: od.consecutiveGatewayErrors > 0 ? 100 : 0 },
          }
        : {}),
      ...(od.splitExternalLocalOriginErrors
        ? {
            splitExternalLocalOriginErrors: true,
            consecutiveLocalOriginFailure: { value: od.consecutiveLocalOriginFailures ?? 5 },
          }
        : {}),
      ...(od.interval ? { interval: durationOf(od.interval) } : {}),
      ...(od.baseEjectionTime ? { baseEjectionTime: durationOf(od.baseEjectionTime) } : {}),
      ...(od.maxEjectionPercent !== undefined
        ? { maxEjectionPercent: { value: od.maxEjectionPercent } }
        : {}),
    } as Cluster['outlierDetection'];
    cluster.commonLbConfig = { healthyPanicThreshold: { value: od.minHealthPercent ?? 0 } };
  }
  return cluster;
}

/**
 * The service's ready and not-ready pods (not-ready ones marked UNHEALTHY), narrowed to the
 * subset's labels, at the target port. Metadata carries what the waypoint needs to reach and
 * label each endpoint: Istio's `istio.workload` string and, ours, the SPIFFE identity and
 * whether the pod takes HBONE (`envoy.transport_socket_match.tunnel = http`, as Istio marks it).
 */
export function buildLoadAssignment(
  ref: ClusterRef,
  idx: ServiceIndex,
  subsetLabels: Record<string, string> | undefined,
  enrolled: (pod: ObjectOf<'Pod'>) => boolean,
): Cla {
  const svc = ref.svc;
  const ns = nsOf(svc);
  const svcPort = svc.spec.ports.find((p) => p.port === ref.port);
  const lbEndpoints: NonNullable<Cla['endpoints']>[number]['lbEndpoints'] = [];
  if (svcPort && svc.spec.selector) {
    for (const pod of idx.objects.Pod) {
      if (nsOf(pod) !== ns || !selectorMatches(svc.spec.selector, pod.metadata.labels)) continue;
      if (subsetLabels && !Object.entries(subsetLabels).every(([k, v]) => pod.metadata.labels[k] === v))
        continue;
      const ip = podIps(pod)[0];
      if (!ip || pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') continue;
      const port = resolveTargetPort(svcPort, pod);
      const l = pod.metadata.labels;
      const canonical = l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l.app ?? '';
      const revision =
        l['service.istio.io/canonical-revision'] ?? l['app.kubernetes.io/version'] ?? l.version ?? 'latest';
      const sa = pod.spec.serviceAccountName ?? 'default';
      lbEndpoints.push({
        endpoint: { address: { socketAddress: { address: ip, portValue: port } } },
        healthStatus: podReady(pod) ? 1 : 2,
        metadata: {
          filterMetadata: {
            istio: {
              fields: {
                workload: {
                  stringValue: `${workloadNameOf(pod).name};${ns};${canonical};${revision};${idx.o.clusterId}`,
                },
                identity: { stringValue: `spiffe://${idx.o.trustDomain}/ns/${ns}/sa/${sa}` },
                pod: { stringValue: pod.metadata.name },
                version: { stringValue: l.version ?? '' },
              },
            },
            ...(enrolled(pod)
              ? { 'envoy.transport_socket_match': { fields: { tunnel: { stringValue: 'http' } } } }
              : {}),
          },
        },
      });
    }
  }
  return { clusterName: ref.name, endpoints: [{ lbEndpoints }] };
}
