// Who may open an xDS stream — istiod's rule (pilot/pkg/xds/authentication.go): the bearer
// token must verify (the same verifier as the CA), and a proxy may only connect as a proxy
// of its own namespace (node metadata NAMESPACE = the token's namespace). A node agent's
// token is bound to a node: it may only connect as the ztunnel of that node (NODE_NAME).
// What an authenticated proxy then sees is the mesh-wide configuration, as with istiod —
// see README § Security.
import { bearerToken, MtlsError, type TokenReviewer } from '@ambient/mtls';
import { type ProxyInfo, XdsAuthError, type XdsCaller } from '@ambient/xds';
import * as grpc from '@grpc/grpc-js';
import { authenticateCaller } from './ca-authorizer.js';
import type { ModelStore } from './store.js';

export function xdsAuthenticator(
  reviewer: TokenReviewer,
  trustedAccounts: readonly string[],
  store?: ModelStore,
): (request: { authorization: string }) => Promise<XdsCaller> {
  return async ({ authorization }) => {
    let caller: Awaited<ReturnType<typeof authenticateCaller>>;
    try {
      caller = await authenticateCaller(reviewer, bearerToken(authorization), trustedAccounts, store);
    } catch (err) {
      throw new XdsAuthError(
        grpc.status.UNAUTHENTICATED,
        err instanceof MtlsError ? `xDS: ${err.message}` : 'xDS: authentication failed',
      );
    }
    const name = `${caller.namespace}/${caller.serviceAccount}${caller.nodeName ? `@${caller.nodeName}` : ''}`;
    return {
      name,
      refuse(proxy: ProxyInfo) {
        const ns = proxy.metadata.NAMESPACE;
        if (typeof ns !== 'string' || ns !== caller.namespace)
          return `authorization failed: ${name} may not connect as a proxy of namespace ${String(ns ?? '(none)')}`;
        const node = proxy.metadata.NODE_NAME;
        if (caller.nodeName && typeof node === 'string' && node !== '' && node !== caller.nodeName)
          return `authorization failed: ${name} may not connect as the proxy of node ${node}`;
        return undefined;
      },
    };
  };
}
