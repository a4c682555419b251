// xDS → ProxyState: Delta ADS with istio.workload.Address and istio.security.Authorization
// (shared spec ztunnel.md §3.1), node identity and metadata as ztunnel sends them.
import { type istio, TypeUrl } from '@ambient/proto';
import type { Logger, XdsMetrics } from '@ambient/telemetry';
import { istioTypes, XdsClient } from '@ambient/xds';
import type { Config } from '../config.js';
import { serviceFromProto, workloadFromProto } from './convert.js';
import type { ProxyState } from './proxy-state.js';

export function startXdsSource(
  config: Config,
  state: ProxyState,
  logger: Logger,
  metrics: XdsMetrics,
): XdsClient {
  const ns = config.pod.namespace;
  const client = new XdsClient({
    address: config.xdsAddress!,
    node: {
      id: `ztunnel~${config.pod.instanceIp || '1.1.1.1'}~${config.pod.name}.${ns}~${ns}.svc.${config.clusterDomain}`,
      metadata: {
        NAME: config.pod.name,
        NAMESPACE: ns,
        INSTANCE_IPS: config.pod.instanceIp,
        NODE_NAME: config.nodeName,
      },
    },
    types: [istioTypes.address, istioTypes.authorization] as never,
    ...(config.xdsAddress!.startsWith('https://') && config.xdsRootCert
      ? { tls: { rootCert: config.xdsRootCert } }
      : {}),
    headers: () => {
      const token = config.authToken();
      return {
        ...config.xdsHeaders,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        clusterid: config.clusterId,
      };
    },
    log: (level, msg, fields) => logger[level]({ scope: 'xds', ...fields }, msg),
  });
  // Which kind each Address name holds, so a removal knows what to remove.
  const kinds = new Map<string, 'workload' | 'service'>();
  client.watchType<istio.workload.Address>(TypeUrl.Address, {
    onUpdate: (name, a) => {
      if (a.workload) {
        kinds.set(name, 'workload');
        state.upsertWorkload(workloadFromProto(a.workload));
      } else if (a.service) {
        kinds.set(name, 'service');
        state.upsertService(serviceFromProto(a.service));
      }
    },
    onRemove: (name) => {
      const kind = kinds.get(name);
      kinds.delete(name);
      if (kind === 'workload') state.removeWorkload(name);
      else if (kind === 'service') state.removeService(name);
    },
  });
  client.watchType<istio.security.Authorization>(TypeUrl.Authorization, {
    onUpdate: (_name, p) => state.upsertPolicy(p),
    onRemove: (name) => state.removePolicy(name),
  });
  client.on('message', (m: { direction: string; typeUrl: string; bytes?: number }) => {
    if (m.direction !== 'in') return;
    metrics.messages.inc({ url: m.typeUrl });
    if (m.bytes) metrics.bytes.inc({ url: m.typeUrl }, m.bytes);
  });
  client.on('stream-end', (e: { code: number; reset: boolean }) => {
    metrics.terminations.inc({ reason: e.code === 0 ? 'Complete' : e.reset ? 'Reconnect' : 'Error' });
  });
  return client.start();
}
