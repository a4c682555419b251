// The Kubernetes source: one informer per kind (list + watch) from @kubernetes/client-node.
// Events go through `handle`, which validates each object with the same schemas as the files
// source; that function is what the unit tests feed. The real API server is exercised by the
// kind end-to-end scenarios (e2e/kind), not here.
import { type AnyObject, type Kind, objectRef, SCHEMAS } from '@ambient/model';
import type { Logger } from '@ambient/telemetry';
import type { ModelStore } from '../store.js';

export interface KindEndpoint {
  kind: Kind;
  /** Watch path, e.g. /api/v1/pods. */
  path: string;
  group?: string;
  version: string;
  plural: string;
}

export const KUBE_KINDS: KindEndpoint[] = [
  { kind: 'Namespace', path: '/api/v1/namespaces', version: 'v1', plural: 'namespaces' },
  { kind: 'Pod', path: '/api/v1/pods', version: 'v1', plural: 'pods' },
  { kind: 'Service', path: '/api/v1/services', version: 'v1', plural: 'services' },
  {
    kind: 'EndpointSlice',
    path: '/apis/discovery.k8s.io/v1/endpointslices',
    group: 'discovery.k8s.io',
    version: 'v1',
    plural: 'endpointslices',
  },
  {
    kind: 'AuthorizationPolicy',
    path: '/apis/security.istio.io/v1/authorizationpolicies',
    group: 'security.istio.io',
    version: 'v1',
    plural: 'authorizationpolicies',
  },
  {
    kind: 'PeerAuthentication',
    path: '/apis/security.istio.io/v1/peerauthentications',
    group: 'security.istio.io',
    version: 'v1',
    plural: 'peerauthentications',
  },
  {
    kind: 'RequestAuthentication',
    path: '/apis/security.istio.io/v1/requestauthentications',
    group: 'security.istio.io',
    version: 'v1',
    plural: 'requestauthentications',
  },
  {
    kind: 'VirtualService',
    path: '/apis/networking.istio.io/v1/virtualservices',
    group: 'networking.istio.io',
    version: 'v1',
    plural: 'virtualservices',
  },
  {
    kind: 'DestinationRule',
    path: '/apis/networking.istio.io/v1/destinationrules',
    group: 'networking.istio.io',
    version: 'v1',
    plural: 'destinationrules',
  },
  {
    kind: 'Gateway',
    path: '/apis/gateway.networking.k8s.io/v1/gateways',
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    plural: 'gateways',
  },
  {
    kind: 'HTTPRoute',
    path: '/apis/gateway.networking.k8s.io/v1/httproutes',
    group: 'gateway.networking.k8s.io',
    version: 'v1',
    plural: 'httproutes',
  },
];

export class KubeSource {
  private readonly informers: { stop(): Promise<void> | void }[] = [];
  rejected = 0;

  constructor(
    private readonly store: ModelStore,
    private readonly logger: Logger,
  ) {}

  /** One informer event: `add`, `update` or `delete` of a raw API object of `kind`. */
  handle(kind: Kind, type: 'add' | 'update' | 'delete', raw: Record<string, unknown>): void {
    // List responses carry no kind or apiVersion on their items.
    const withKind = { apiVersion: 'v1', ...raw, kind } as Record<string, unknown>;
    const parsed = SCHEMAS[kind].safeParse(withKind);
    const meta = raw.metadata as { name?: string; namespace?: string } | undefined;
    const ref = meta?.namespace ? `${kind}/${meta.namespace}/${meta?.name}` : `${kind}/${meta?.name}`;
    if (type === 'delete') {
      this.store.remove('kube', ref);
      return;
    }
    if (!parsed.success) {
      this.rejected++;
      const issue = parsed.error.issues[0]!;
      this.logger.error(
        { object: ref, field: issue.path.join('.'), reason: issue.message },
        'invalid object from the API server (skipped; last good kept)',
      );
      return;
    }
    this.store.upsert('kube', parsed.data as AnyObject);
  }

  /** Starts informers against the cluster in the default kubeconfig / in-cluster service account. */
  async start(): Promise<void> {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromDefault();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    for (const ep of KUBE_KINDS) {
      const list = async () => {
        if (ep.kind === 'Namespace') return core.listNamespace();
        if (ep.kind === 'Pod') return core.listPodForAllNamespaces();
        if (ep.kind === 'Service') return core.listServiceForAllNamespaces();
        if (ep.kind === 'EndpointSlice')
          return kc.makeApiClient(k8s.DiscoveryV1Api).listEndpointSliceForAllNamespaces();
        return (await custom.listClusterCustomObject({
          group: ep.group!,
          version: ep.version,
          plural: ep.plural,
        })) as never;
      };
      const informer = k8s.makeInformer(kc, ep.path, list as never);
      const on = (type: 'add' | 'update' | 'delete') => (obj: unknown) =>
        this.handle(ep.kind, type, obj as Record<string, unknown>);
      informer.on('add', on('add'));
      informer.on('update', on('update'));
      informer.on('delete', on('delete'));
      informer.on('error', (err: unknown) => {
        this.logger.warn(
          { kind: ep.kind, error: (err as Error)?.message ?? String(err) },
          'watch failed; restarting in 5 s',
        );
        setTimeout(() => void informer.start().catch(() => undefined), 5000);
      });
      await informer.start();
      this.informers.push(informer);
    }
  }

  /** Creates or updates a ConfigMap holding the root certificate (ztunnels mount it). */
  static async publishRootCert(cm: { name: string; namespace: string }, rootPem: string): Promise<void> {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromDefault();
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const body = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: cm.name, namespace: cm.namespace },
      data: { 'root-cert.pem': rootPem },
    };
    try {
      await core.replaceNamespacedConfigMap({ name: cm.name, namespace: cm.namespace, body });
    } catch {
      await core.createNamespacedConfigMap({ namespace: cm.namespace, body });
    }
  }

  async stop(): Promise<void> {
    for (const i of this.informers) await i.stop();
  }

  refs(): string[] {
    return this.store.all().map(objectRef);
  }
}
