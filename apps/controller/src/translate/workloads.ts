// Pods and Services → istio.workload.Address, as istiod builds them for ztunnel — shared
// spec ztunnel.md §3.1 (resource names), §3.3 (fields), waypoint.md §3 (waypoints).

import type { ObjectOf } from '@ambient/model';
import { parseIp } from '@ambient/policy';
import type { Init, istio } from '@ambient/proto';
import { LABELS, nsOf, type Objects, selectorMatches, type TranslateOptions } from './model-view.js';
import { isWaypointPod, resolveWaypoint } from './waypoints.js';

type Address = Init<istio.workload.Address>;

export interface WorkloadOutput {
  addresses: Map<string, Address>;
  warnings: string[];
}

const HBONE = 1;
const NONE = 0;
const TYPE = { DEPLOYMENT: 0, POD: 2 };

export function isEnrolled(pod: ObjectOf<'Pod'>, ns: ObjectOf<'Namespace'> | undefined): boolean {
  const podMode = pod.metadata.labels[LABELS.dataplaneMode];
  if (podMode === 'none') return false;
  if (podMode === 'ambient') return true;
  return ns?.metadata.labels[LABELS.dataplaneMode] === 'ambient';
}

export function podIps(pod: ObjectOf<'Pod'>): string[] {
  const ips = pod.status.podIPs?.map((p) => p.ip) ?? (pod.status.podIP ? [pod.status.podIP] : []);
  return ips.filter((ip) => parseIp(ip) !== undefined);
}

/** Deployment pods are named `<deployment>-<replicaset hash>-<5 chars>`. */
export function workloadNameOf(pod: ObjectOf<'Pod'>): { name: string; type: number } {
  const m = /^(.+)-[a-z0-9]{6,10}-[a-z0-9]{5}$/.exec(pod.metadata.name);
  return m ? { name: m[1]!, type: TYPE.DEPLOYMENT } : { name: pod.metadata.name, type: TYPE.POD };
}

export function podReady(pod: ObjectOf<'Pod'>): boolean {
  const c = pod.status.conditions?.find((x) => x.type === 'Ready');
  if (c) return c.status === 'True';
  return pod.status.phase === 'Running' || pod.status.phase === undefined;
}

export function resolveTargetPort(
  svcPort: ObjectOf<'Service'>['spec']['ports'][number],
  pod?: ObjectOf<'Pod'>,
): number {
  const t = svcPort.targetPort ?? svcPort.port;
  if (typeof t === 'number') return t;
  if (/^\d+$/.test(t)) return Number(t);
  // A named target port resolves per pod (0 = unresolved, as istiod sends for services).
  for (const c of pod?.spec.containers ?? [])
    for (const p of c.ports) if (p.name === t) return p.containerPort;
  return 0;
}

function appProtocol(p: ObjectOf<'Service'>['spec']['ports'][number]): number {
  const v = (p.appProtocol ?? p.name ?? '').toLowerCase();
  if (v === 'http' || v.startsWith('http-')) return 1;
  if (v === 'http2' || v.startsWith('http2-')) return 2;
  if (v === 'grpc' || v.startsWith('grpc-')) return 3;
  return 0;
}

export function serviceHostname(svc: ObjectOf<'Service'>, o: TranslateOptions): string {
  return `${svc.metadata.name}.${nsOf(svc)}.svc.${o.domainSuffix}`;
}

function ipBytes(ip: string): Uint8Array {
  return parseIp(ip)!;
}

/** Names of selector AuthorizationPolicies (and converted PeerAuthentications) that apply to a pod. */
export type PolicyKeysFor = (pod: ObjectOf<'Pod'>) => string[];

export function translateWorkloads(
  objects: Objects,
  o: TranslateOptions,
  policyKeysFor: PolicyKeysFor,
): WorkloadOutput {
  const out: WorkloadOutput = { addresses: new Map(), warnings: [] };
  const nsByName = new Map(objects.Namespace.map((n) => [n.metadata.name, n]));

  for (const svc of objects.Service) {
    if (svc.spec.type === 'ExternalName') continue;
    const ns = nsOf(svc);
    const hostname = serviceHostname(svc, o);
    const ips = (svc.spec.clusterIPs ?? (svc.spec.clusterIP ? [svc.spec.clusterIP] : [])).filter(
      (ip) => ip !== 'None' && parseIp(ip),
    );
    const service: Init<istio.workload.Service> = {
      name: svc.metadata.name,
      namespace: ns,
      hostname,
      addresses: ips.map((ip) => ({ network: o.network, address: ipBytes(ip) })),
      ports: svc.spec.ports.map((p) => ({
        servicePort: p.port,
        targetPort: resolveTargetPort(p),
        appProtocol: appProtocol(p),
      })),
    };
    const binding = resolveWaypoint(
      objects,
      { kind: 'Service', namespace: ns, labels: svc.metadata.labels },
      o.domainSuffix,
    );
    if (binding.problem) out.warnings.push(`Service/${ns}/${svc.metadata.name}: ${binding.problem}`);
    if (
      binding.waypoint &&
      !(binding.waypoint.name === svc.metadata.name && binding.waypoint.namespace === ns)
    ) {
      service.waypoint = {
        hostname: { namespace: binding.waypoint.namespace, hostname: binding.waypoint.hostname },
        hboneMtlsPort: 15008,
      };
    }
    out.addresses.set(`${ns}/${hostname}`, { service });
  }

  for (const pod of objects.Pod) {
    const ips = podIps(pod);
    if (ips.length === 0 || pod.status.phase === 'Succeeded' || pod.status.phase === 'Failed') continue;
    const ns = nsOf(pod);
    const l = pod.metadata.labels;
    const { name: workloadName, type } = workloadNameOf(pod);
    const uid = `${o.clusterId}//Pod/${ns}/${pod.metadata.name}`;
    const services: Record<string, Init<istio.workload.PortList>> = {};
    for (const svc of objects.Service) {
      if (nsOf(svc) !== ns || !selectorMatches(svc.spec.selector, l)) continue;
      services[`${ns}/${serviceHostname(svc, o)}`] = {
        ports: svc.spec.ports.map((p) => ({
          servicePort: p.port,
          targetPort: resolveTargetPort(p, pod),
          appProtocol: appProtocol(p),
        })),
      };
    }
    // Services without a selector: their endpoints come from EndpointSlices naming this pod.
    for (const slice of objects.EndpointSlice ?? []) {
      if (nsOf(slice) !== ns) continue;
      const svcName = slice.metadata.labels['kubernetes.io/service-name'];
      const svc = objects.Service.find(
        (x) => nsOf(x) === ns && x.metadata.name === svcName && !x.spec.selector,
      );
      if (!svc) continue;
      const mine = slice.endpoints.some(
        (e) =>
          e.targetRef?.kind === 'Pod' &&
          e.targetRef.name === pod.metadata.name &&
          (e.targetRef.namespace ?? ns) === ns,
      );
      if (!mine) continue;
      services[`${ns}/${serviceHostname(svc, o)}`] = {
        ports: svc.spec.ports.map((p) => {
          const byName = slice.ports.find((sp) => sp.name === (p.name ?? ''));
          const only = slice.ports.length === 1 ? slice.ports[0] : undefined;
          return {
            servicePort: p.port,
            targetPort: (byName ?? only)?.port ?? resolveTargetPort(p, pod),
            appProtocol: appProtocol(p),
          };
        }),
      };
    }
    const enrolled = isEnrolled(pod, nsByName.get(ns));
    const workload: Init<istio.workload.Workload> = {
      uid,
      name: pod.metadata.name,
      namespace: ns,
      addresses: ips.map(ipBytes),
      network: o.network,
      tunnelProtocol: enrolled ? HBONE : NONE,
      trustDomain: o.trustDomain,
      serviceAccount: pod.spec.serviceAccountName ?? 'default',
      node: pod.spec.nodeName ?? '',
      canonicalName:
        l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l.app ?? workloadName,
      canonicalRevision:
        l['service.istio.io/canonical-revision'] ?? l['app.kubernetes.io/version'] ?? l.version ?? 'latest',
      workloadType: type,
      workloadName,
      services,
      authorizationPolicies: enrolled ? policyKeysFor(pod) : [],
      status: podReady(pod) ? 0 : 1,
      clusterId: o.clusterId,
      networkMode: pod.spec.hostNetwork ? 1 : 0,
    };
    if (enrolled && !isWaypointPod(pod)) {
      const binding = resolveWaypoint(objects, { kind: 'Pod', namespace: ns, labels: l }, o.domainSuffix);
      if (binding.problem) out.warnings.push(`Pod/${ns}/${pod.metadata.name}: ${binding.problem}`);
      if (binding.waypoint)
        workload.waypoint = {
          hostname: { namespace: binding.waypoint.namespace, hostname: binding.waypoint.hostname },
          hboneMtlsPort: 15008,
        };
    }
    const extensions: Init<istio.workload.Extension>[] = [];
    if (pod.metadata.uid) {
      // Ours: lets ztunnel find the pod's network namespace from /proc (hostPID) without a CNI agent.
      extensions.push({
        name: LABELS.podUidExtension,
        config: {
          type_url: 'type.googleapis.com/google.protobuf.StringValue',
          value: stringValue(pod.metadata.uid),
        },
      });
    }
    const netns = pod.metadata.annotations[LABELS.netnsAnnotation];
    if (netns) {
      // Ours: where the pod's network namespace is, for ztunnel's in-pod capture without a CNI agent.
      workload.extensions = [
        {
          name: LABELS.netnsAnnotation,
          config: { type_url: 'type.googleapis.com/google.protobuf.StringValue', value: stringValue(netns) },
        },
      ];
    }
    out.addresses.set(uid, { workload });
  }
  return out;
}

/** google.protobuf.StringValue bytes: field 1, length-delimited. */
function stringValue(s: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  const len: number[] = [];
  let n = bytes.length;
  do {
    len.push((n & 0x7f) | (n > 0x7f ? 0x80 : 0));
    n >>>= 7;
  } while (n > 0);
  return Uint8Array.from([0x0a, ...len, ...bytes]);
}
