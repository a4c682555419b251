// The waypoint Deployment and Service the controller creates for each `istio-waypoint`
// Gateway in kube mode, as istiod does from its waypoint template (shared spec waypoint.md
// §0, §3.1): named after the Gateway, pods labelled `gateway.networking.k8s.io/gateway-name`
// and `istio.io/dataplane-mode: none` (ztunnel never captures a waypoint), a ServiceAccount of
// the same name (the waypoint's SPIFFE identity), ports 15008 (HBONE, the Service's `mesh`
// port), 15020 (metrics) and 15021 (readiness), the root certificate as a ConfigMap in the
// Gateway's namespace, and owner references to the Gateway so deleting it deletes them.
// Applied with server-side apply (field manager `ambient-controller`).
import type { ObjectOf } from '@ambient/model';
import { nsOf } from './translate/model-view.js';

export interface WaypointDeployOptions {
  image: string;
  /** The controller as waypoints reach it (xDS and CA). */
  controllerAddress: string;
  /** Name of the root-certificate ConfigMap written into each waypoint namespace. */
  rootCertConfigMap: string;
  trustDomain: string;
  clusterId: string;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export const WAYPOINT_LABELS = {
  gatewayName: 'gateway.networking.k8s.io/gateway-name',
  managed: 'gateway.istio.io/managed',
  dataplaneMode: 'istio.io/dataplane-mode',
} as const;

export function renderWaypoint(
  gw: ObjectOf<'Gateway'>,
  rootPem: string,
  o: WaypointDeployOptions,
): KubeObject[] {
  const name = gw.metadata.name;
  const namespace = nsOf(gw);
  const labels = {
    [WAYPOINT_LABELS.gatewayName]: name,
    [WAYPOINT_LABELS.managed]: 'istio.io-mesh-controller',
  };
  const owner = gw.metadata.uid
    ? {
        ownerReferences: [
          { apiVersion: gw.apiVersion, kind: 'Gateway', name, uid: gw.metadata.uid, controller: true },
        ],
      }
    : {};
  const meta = (n: string) => ({ name: n, namespace, labels, ...owner });
  const fieldEnv = (envName: string, fieldPath: string) => ({
    name: envName,
    valueFrom: { fieldRef: { fieldPath } },
  });
  return [
    { apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(name) },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: meta(o.rootCertConfigMap),
      data: { 'root-cert.pem': rootPem },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: meta(name),
      spec: {
        selector: { matchLabels: { [WAYPOINT_LABELS.gatewayName]: name } },
        template: {
          metadata: { labels: { ...labels, [WAYPOINT_LABELS.dataplaneMode]: 'none' } },
          spec: {
            serviceAccountName: name,
            terminationGracePeriodSeconds: 30,
            containers: [
              {
                name: 'istio-proxy',
                image: o.image,
                imagePullPolicy: 'IfNotPresent',
                args: ['waypoint'],
                env: [
                  { name: 'XDS_ADDRESS', value: o.controllerAddress },
                  { name: 'CA_ADDRESS', value: o.controllerAddress },
                  { name: 'XDS_ROOT_CA', value: '/var/run/secrets/istio/root-cert.pem' },
                  { name: 'CA_ROOT_CA', value: '/var/run/secrets/istio/root-cert.pem' },
                  { name: 'AUTH_TOKEN', value: '/var/run/secrets/tokens/istio-token' },
                  { name: 'GATEWAY_NAME', value: name },
                  { name: 'TRUST_DOMAIN', value: o.trustDomain },
                  { name: 'ISTIO_META_CLUSTER_ID', value: o.clusterId },
                  { name: 'TERMINATION_GRACE_PERIOD_SECONDS', value: '30' },
                  fieldEnv('POD_NAME', 'metadata.name'),
                  fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
                  fieldEnv('INSTANCE_IP', 'status.podIP'),
                  fieldEnv('SERVICE_ACCOUNT', 'spec.serviceAccountName'),
                ],
                ports: [
                  { name: 'mesh', containerPort: 15008, protocol: 'TCP' },
                  { name: 'http-monitoring', containerPort: 15020, protocol: 'TCP' },
                  { name: 'http-readiness', containerPort: 15021, protocol: 'TCP' },
                ],
                readinessProbe: { httpGet: { path: '/healthz/ready', port: 15021 }, periodSeconds: 5 },
                resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: 1337,
                  runAsGroup: 1337,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                volumeMounts: [
                  { name: 'istio-token', mountPath: '/var/run/secrets/tokens' },
                  { name: 'root-cert', mountPath: '/var/run/secrets/istio' },
                ],
              },
            ],
            volumes: [
              {
                name: 'istio-token',
                projected: {
                  sources: [
                    {
                      serviceAccountToken: {
                        audience: 'istio-ca',
                        expirationSeconds: 43200,
                        path: 'istio-token',
                      },
                    },
                  ],
                },
              },
              { name: 'root-cert', configMap: { name: o.rootCertConfigMap } },
            ],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta(name),
      spec: {
        selector: { [WAYPOINT_LABELS.gatewayName]: name },
        ports: [{ name: 'mesh', port: 15008, targetPort: 15008, protocol: 'TCP', appProtocol: 'all' }],
      },
    },
  ];
}

/** Applies the waypoint objects of every `istio-waypoint` Gateway (kube mode). */
export class WaypointDeployer {
  private applied = new Map<string, string>();
  private clientPromise?: Promise<{
    api: import('@kubernetes/client-node').KubernetesObjectApi;
    k8s: typeof import('@kubernetes/client-node');
  }>;

  /** The API client, made once (kubeconfig read once, not on every translation). */
  private client() {
    this.clientPromise ??= import('@kubernetes/client-node').then((k8s) => {
      const kc = new k8s.KubeConfig();
      kc.loadFromDefault();
      return { api: k8s.KubernetesObjectApi.makeApiClient(kc), k8s };
    });
    return this.clientPromise;
  }

  constructor(
    private readonly o: WaypointDeployOptions,
    private readonly log: (level: 'info' | 'warn', msg: string, fields: Record<string, unknown>) => void,
  ) {}

  async reconcile(gateways: ObjectOf<'Gateway'>[], rootPem: string): Promise<void> {
    const { api, k8s } = await this.client();
    for (const gw of gateways.filter((g) => g.spec.gatewayClassName === 'istio-waypoint')) {
      const objects = renderWaypoint(gw, rootPem, this.o);
      const key = `${nsOf(gw)}/${gw.metadata.name}`;
      const digest = JSON.stringify(objects);
      if (this.applied.get(key) === digest) continue; // nothing changed since the last apply
      try {
        for (const obj of objects)
          await api.patch(
            obj as never,
            undefined,
            undefined,
            'ambient-controller',
            true,
            k8s.PatchStrategy.ServerSideApply,
          );
        this.applied.set(key, digest);
        this.log('info', 'waypoint deployed', { gateway: key });
      } catch (err) {
        this.log('warn', 'cannot deploy waypoint', { gateway: key, error: (err as Error).message });
      }
    }
  }
}
