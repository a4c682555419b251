// Who is on the other end of an accepted tunnel, as far as policy is concerned. The peer's
// identity comes from its certificate; its source IP is the one fact a peer could lie about:
// the `forwarded: for=` header of the CONNECT is written by the peer. A claimed address is
// believed only when it belongs to a workload that runs as the peer's authenticated identity
// (the ztunnel that tunnels a pod's traffic holds that pod's certificate); otherwise the
// connection's own peer address is used — never the claim. Shared spec ztunnel.md §1.3, §1.8.
import { forwardedFor, type HboneRequest } from '@ambient/hbone';
import type { WaypointState, WorkloadInfo } from './state.js';

export interface DownstreamSource {
  ip: string;
  workload?: WorkloadInfo;
}

const plainIp = (ip: string) => (ip.startsWith('::ffff:') ? ip.slice(7) : ip);

export function downstreamSource(req: HboneRequest, state: WaypointState): DownstreamSource {
  const peerIp = plainIp(req.remoteAddress);
  const principal = req.peerIdentity.principal();
  const runsAsPeer = (w: WorkloadInfo | undefined): w is WorkloadInfo =>
    w !== undefined && `${w.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}` === principal;
  const header = req.headers.forwarded;
  const claimed = forwardedFor(Array.isArray(header) ? header[0] : header);
  if (claimed !== undefined && plainIp(claimed) !== peerIp) {
    const w = state.workloadByAddress(plainIp(claimed));
    if (runsAsPeer(w)) return { ip: plainIp(claimed), workload: w };
  }
  // The workload (telemetry labels) only when it is the peer: an address is not an identity.
  const w = state.workloadByAddress(peerIp);
  return { ip: peerIp, ...(runsAsPeer(w) ? { workload: w } : {}) };
}
