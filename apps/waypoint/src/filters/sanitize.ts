// What the waypoint does to a request's headers before any filter reads them — Envoy's
// sanitisation for a downstream it does not trust (HTTP connection manager, "HTTP header
// sanitizing"; `use_remote_address: true`, `xff_num_trusted_hops`,
// `forward_client_cert_details: SANITIZE_SET`), plus jwt_authn's rule that the headers it
// writes (`outputPayloadToHeader`, `outputClaimToHeaders`) never come from the client.
//
//   x-envoy-*                  removed (Envoy's internal headers: retry, timeout, routing hints)
//   x-forwarded-client-cert    replaced: By=<this waypoint>;URI=<the peer's certificate>
//   x-forwarded-proto          replaced by the scheme of the connection (`http` inside HBONE)
//   x-forwarded-for            the peer's address appended; the client address for
//                              `remoteIpBlocks` / `remote.ip` is counted from the right:
//                              with N trusted hops (Istio numTrustedProxies, default 0) the
//                              Nth entry from the right, else the connection's peer
//   JWT output headers         removed (the JWT filter writes them only from a verified token)
//   x-request-id               kept: it correlates a request across the mesh's hops
import net from 'node:net';

export interface SanitizeOptions {
  /** The connection's (verified) source address. */
  sourceIp: string;
  /** Istio's numTrustedProxies: proxies in front of the client whose XFF entries are believed. */
  trustedHops: number;
  /** `spiffe://` URIs of this waypoint and of the peer. */
  self: string;
  peer: string;
  /** Lower-case names of every header the JWT filter may write for this service. */
  jwtOutputs: ReadonlySet<string>;
}

/** Sanitises `headers` in place; returns the client address policy sees as `remote.ip`. */
export function sanitizeRequestHeaders(
  headers: Record<string, string | undefined>,
  o: SanitizeOptions,
): { remoteIp: string } {
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-envoy-') || o.jwtOutputs.has(name)) delete headers[name];
  }
  const xff = headers['x-forwarded-for'];
  const remoteIp = clientAddress(xff, o.sourceIp, o.trustedHops);
  headers['x-forwarded-for'] = xff ? `${xff},${o.sourceIp}` : o.sourceIp;
  headers['x-forwarded-proto'] = 'http';
  headers['x-forwarded-client-cert'] = `By=${o.self};URI=${o.peer}`;
  return { remoteIp };
}

/** Envoy's trusted client address: the Nth XFF entry from the right, or the peer. */
export function clientAddress(xff: string | undefined, peer: string, trustedHops: number): string {
  if (trustedHops <= 0 || !xff) return peer;
  const entries = xff.split(',');
  if (entries.length < trustedHops) return peer;
  const candidate = entries[entries.length - trustedHops]!.trim();
  return net.isIP(candidate) ? candidate : peer;
}
