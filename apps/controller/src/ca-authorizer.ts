// Who may obtain which identity from the CA — shared spec ztunnel.md §2.3 (istiod's node
// authorization). Files mode: the requested identity must belong to a pod in the model
// (namespace + service account), and, when an allow-list file is configured, the caller's
// token must be listed with a matching pattern. Kube mode: TokenReview of the caller's
// token, which must be a ztunnel service account, and a pod with the requested service
// account must run on the caller's node (from the bound token's node claim).
import { readFileSync } from 'node:fs';
import { type CaAuthorizer, MtlsError, staticAllowList } from '@ambient/mtls';
import { parse } from 'yaml';
import type { ModelStore } from './store.js';

export function filesAuthorizer(store: ModelStore, allowFile?: string): CaAuthorizer {
  let allow: CaAuthorizer | undefined;
  if (allowFile) {
    const parsed = parse(readFileSync(allowFile, 'utf8')) as Record<string, string[]>;
    allow = staticAllowList(parsed);
  }
  return async (ctx) => {
    if (allow) await allow(ctx);
    const { namespace, serviceAccount } = ctx.requested;
    const known = store
      .view()
      .Pod.some(
        (p) =>
          (p.metadata.namespace ?? 'default') === namespace &&
          (p.spec.serviceAccountName ?? 'default') === serviceAccount,
      );
    if (!known)
      throw new MtlsError(
        'NOT_ALLOWED',
        `no pod runs as ${namespace}/${serviceAccount}: refusing to issue ${ctx.requested}`,
      );
  };
}

export interface TokenReviewer {
  review(token: string): Promise<{ authenticated: boolean; username?: string; nodeName?: string }>;
}

export function kubeAuthorizer(
  store: ModelStore,
  reviewer: TokenReviewer,
  trustedAccounts = ['ambient-system/ztunnel', 'istio-system/ztunnel'],
): CaAuthorizer {
  return async (ctx) => {
    if (!ctx.token) throw new MtlsError('UNAUTHENTICATED', 'no bearer token');
    const r = await reviewer.review(ctx.token);
    if (!r.authenticated || !r.username)
      throw new MtlsError('UNAUTHENTICATED', 'token rejected by TokenReview');
    const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(r.username);
    const caller = m ? `${m[1]}/${m[2]}` : r.username;
    const self = m && m[1] === ctx.requested.namespace && m[2] === ctx.requested.serviceAccount;
    if (self) return; // a workload asking for its own identity
    if (!ctx.impersonating || !trustedAccounts.includes(caller)) {
      throw new MtlsError('NOT_ALLOWED', `${caller} may not impersonate ${ctx.requested}`);
    }
    const onNode = store
      .view()
      .Pod.some(
        (p) =>
          (p.metadata.namespace ?? 'default') === ctx.requested.namespace &&
          (p.spec.serviceAccountName ?? 'default') === ctx.requested.serviceAccount &&
          p.spec.nodeName === r.nodeName &&
          p.status.phase !== 'Failed',
      );
    if (!onNode)
      throw new MtlsError(
        'NOT_ALLOWED',
        `request impersonation authentication failure: no pod of ${ctx.requested} on node ${r.nodeName ?? '(unknown)'}`,
      );
  };
}

/** TokenReview through @kubernetes/client-node. */
export async function kubeTokenReviewer(): Promise<TokenReviewer> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const api = kc.makeApiClient(k8s.AuthenticationV1Api);
  return {
    async review(token) {
      const res = await api.createTokenReview({
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: ['istio-ca'] },
        },
      });
      const status = res.status;
      const extra = status?.user?.extra ?? {};
      return {
        authenticated: status?.authenticated === true,
        ...(status?.user?.username ? { username: status.user.username } : {}),
        ...(extra['authentication.kubernetes.io/node-name']?.[0]
          ? { nodeName: extra['authentication.kubernetes.io/node-name'][0] }
          : {}),
      };
    },
  };
}
