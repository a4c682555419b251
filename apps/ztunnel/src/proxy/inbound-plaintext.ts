// Inbound plaintext (15006) — shared spec ztunnel.md §1.1, §6.1: TCP to a local workload
// that did not come through HBONE. Same authorization, with no peer identity: a STRICT
// PeerAuthentication (`notPrincipals: [presence]` DENY) refuses it. Refusal closes the
// connection (there is no status at L4).
import type net from 'node:net';
import { formatAuthority, pipeTunnel } from '@ambient/hbone';
import { evaluate, selectPolicies } from '@ambient/policy';
import { normalizeIp, type ProxyState } from '../state/proxy-state.js';
import type { Workload } from '../state/types.js';
import type { ConnectionTracker } from './connection-tracker.js';
import { ProxyError } from './errors.js';
import { ILLEGAL_PORTS } from './route.js';
import { connected, type SocketFactory } from './sockets.js';
import { type ConnectionRecord, type ConnectionTelemetry, peerOf } from './telemetry.js';

export interface PlaintextDeps {
  state: ProxyState;
  sockets: SocketFactory;
  telemetry: ConnectionTelemetry;
  tracker: ConnectionTracker;
}

export async function handleInboundPlaintext(
  d: PlaintextDeps,
  client: net.Socket,
  dst: { ip: string; port: number },
  local: Workload,
): Promise<void> {
  client.on('error', () => {});
  const clientIp = normalizeIp(client.remoteAddress ?? '');
  const record: ConnectionRecord = {
    info: {
      reporter: 'destination',
      source: peerOf(d.state.findWorkloadByIp(local.network, clientIp)),
      destination: peerOf(local),
      mutualTls: false,
    },
    srcAddr: formatAuthority(clientIp, client.remotePort ?? 0),
    dstAddr: formatAuthority(dst.ip, dst.port),
    startedAt: performance.now(),
    bytesFromClient: 0,
    bytesToClient: 0,
  };
  // Without mTLS the source principal is unknown: never take it from the IP lookup.
  delete record.info.source.principal;
  let untrack = () => {};
  try {
    if (ILLEGAL_PORTS.has(dst.port))
      throw new ProxyError('ILLEGAL_PORT', `port ${dst.port} is ztunnel's own`);
    const { policies } = selectPolicies(d.state.compiledPolicies(), local);
    const decision = evaluate(policies, { srcIp: clientIp, dstIp: dst.ip, dstPort: dst.port });
    if (decision.policy) record.policy = decision.policy;
    if (!decision.allowed) throw new ProxyError('DENIED', decision.reason);
    const upstream = await connected(d.sockets.connectApp(local, dst.ip, dst.port, clientIp)).catch(
      (err: Error) => {
        throw new ProxyError('CONNECT', `connect to ${record.dstAddr} failed: ${err.message}`, {
          cause: err,
        });
      },
    );
    untrack = d.tracker.add({
      workloadUid: local.uid,
      conn: { srcIp: clientIp, dstIp: dst.ip, dstPort: dst.port },
      close: () => upstream.resetAndDestroy(),
    });
    await pipeTunnel(client, upstream);
  } catch (err) {
    record.error = err instanceof ProxyError ? err : new ProxyError('CONNECT', (err as Error).message);
    if (!client.destroyed) client.resetAndDestroy();
  } finally {
    untrack();
    record.bytesFromClient = client.bytesRead;
    record.bytesToClient = client.bytesWritten;
    d.telemetry.complete(record);
  }
}
