// Who may obtain which identity from the CA — shared spec ztunnel.md §2.3 (istiod's
// security/pkg/server/ca/server.go and node_auth.go). The same rules in every mode; only the
// token's verifier differs: Kubernetes TokenReview (kube mode) or the controller's own token
// signer (files mode, `ambientctl token create`).
//
//   - no token, or a token the verifier refuses              → UNAUTHENTICATED
//   - the caller's own identity (token namespace + SA)        → issued
//   - another identity, asked for with ImpersonatedIdentity,
//     by a trusted node account (CA_TRUSTED_NODE_ACCOUNTS)
//     whose token is bound to a node, for a service account
//     that a live pod on that very node runs as              → issued
//   - anything else                                           → PERMISSION_DENIED
import { type CaAuthorizer, MtlsError, serviceAccountOf, type TokenReviewer } from '@ambient/mtls';
import type { ModelStore } from './store.js';

export const DEFAULT_TRUSTED_NODE_ACCOUNTS = ['ambient-system/ztunnel', 'istio-system/ztunnel'];

export interface Caller {
  namespace: string;
  serviceAccount: string;
  /** The node a node agent's token is bound to. */
  nodeName?: string;
  /** True when the caller is a node agent (CA_TRUSTED_NODE_ACCOUNTS). */
  nodeAgent: boolean;
}

/** Verifies a bearer token and says who holds it; throws UNAUTHENTICATED. */
export async function authenticateCaller(
  reviewer: TokenReviewer,
  token: string,
  trustedAccounts: readonly string[],
  store?: ModelStore,
): Promise<Caller> {
  if (!token) throw new MtlsError('UNAUTHENTICATED', 'no bearer token (authorization: Bearer <token>)');
  const r = await reviewer.review(token);
  if (!r.authenticated)
    throw new MtlsError('UNAUTHENTICATED', `token rejected${r.error ? `: ${r.error}` : ''}`);
  const sa = serviceAccountOf(r.username);
  if (!sa) throw new MtlsError('UNAUTHENTICATED', `${r.username ?? 'the caller'} is not a service account`);
  // Kubernetes before 1.30 puts no node in a bound token; istiod then finds the caller's pod
  // (name and UID from the token) and takes the node it is scheduled on.
  let nodeName = r.nodeName;
  if (!nodeName && r.pod && store) {
    const pod = store
      .view()
      .Pod.find(
        (p) =>
          (p.metadata.namespace ?? 'default') === sa.namespace &&
          p.metadata.name === r.pod!.name &&
          p.metadata.uid === r.pod!.uid,
      );
    nodeName = pod?.spec.nodeName;
  }
  return {
    ...sa,
    ...(nodeName ? { nodeName } : {}),
    nodeAgent: trustedAccounts.includes(`${sa.namespace}/${sa.serviceAccount}`),
  };
}

export function caAuthorizer(
  store: ModelStore,
  reviewer: TokenReviewer,
  trustedAccounts: readonly string[] = DEFAULT_TRUSTED_NODE_ACCOUNTS,
): CaAuthorizer {
  return async (ctx) => {
    const caller = await authenticateCaller(reviewer, ctx.token, trustedAccounts, store);
    const who = `${caller.namespace}/${caller.serviceAccount}`;
    const { namespace, serviceAccount } = ctx.requested;
    if (caller.namespace === namespace && caller.serviceAccount === serviceAccount) return;
    if (!ctx.impersonating || !caller.nodeAgent)
      throw new MtlsError('NOT_ALLOWED', `${who} may not obtain a certificate for ${ctx.requested}`);
    const node = caller.nodeName;
    // A node agent's token must name its node: a token without one must never match pods that
    // are not scheduled yet (both names undefined).
    if (!node)
      throw new MtlsError(
        'NOT_ALLOWED',
        `request impersonation authentication failure: the token of ${who} is not bound to a node`,
      );
    const onNode = store
      .view()
      .Pod.some(
        (p) =>
          (p.metadata.namespace ?? 'default') === namespace &&
          (p.spec.serviceAccountName ?? 'default') === serviceAccount &&
          p.spec.nodeName === node &&
          p.status.phase !== 'Failed' &&
          p.status.phase !== 'Succeeded',
      );
    if (!onNode)
      throw new MtlsError(
        'NOT_ALLOWED',
        `request impersonation authentication failure: no pod of ${ctx.requested} on node ${node}`,
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
        ...(extra['authentication.kubernetes.io/pod-name']?.[0] &&
        extra['authentication.kubernetes.io/pod-uid']?.[0]
          ? {
              pod: {
                name: extra['authentication.kubernetes.io/pod-name'][0],
                uid: extra['authentication.kubernetes.io/pod-uid'][0],
              },
            }
          : {}),
        ...(status?.error ? { error: status.error } : {}),
      };
    },
  };
}
