// Inbound HBONE (15008) — shared spec ztunnel.md §1.7. For each CONNECT, in phases:
// build the context (authority must name the IP the connection arrived on: 400; local
// workload known: 503; not one of ztunnel's own ports: 503) → authorize with the peer's
// identity (401, flag DENY) → connect to the app from the client's address (503, flag
// CONNECT) → reply 200 (with the destination's baggage) → pipe; tracked for policy re-checks.
import type net from 'node:net';
import type { PipeResult } from '@ambient/hbone';
import {
  formatAuthority,
  formatBaggage,
  type HboneDecision,
  type HboneRequest,
  parseBaggage,
} from '@ambient/hbone';
import { evaluate, selectPolicies } from '@ambient/policy';
import type { Logger } from '@ambient/telemetry';
import { normalizeIp, type ProxyState } from '../state/proxy-state.js';
import type { Workload } from '../state/types.js';
import type { ConnectionTracker } from './connection-tracker.js';
import { hboneStatus, ProxyError } from './errors.js';
import { ILLEGAL_PORTS } from './route.js';
import { connected, type SocketFactory } from './sockets.js';
import { type ConnectionRecord, type ConnectionTelemetry, peerOf } from './telemetry.js';

export interface InboundDeps {
  state: ProxyState;
  sockets: SocketFactory;
  telemetry: ConnectionTelemetry;
  tracker: ConnectionTracker;
  logger: Logger;
}

interface Open {
  record: ConnectionRecord;
  untrack: () => void;
}

export class Inbound {
  private readonly open = new WeakMap<HboneRequest, Open>();

  constructor(private readonly d: InboundDeps) {}

  /** The HboneServer handler for one local workload's listener. */
  handler(local: Workload): (req: HboneRequest) => Promise<HboneDecision> {
    return (req) => this.handle(local, req);
  }

  private async handle(local: Workload, req: HboneRequest): Promise<HboneDecision> {
    const clientIp = normalizeIp(req.remoteAddress);
    const principal = req.peerIdentity.toString();
    const srcWorkload = this.d.state.findWorkloadByIp(local.network, clientIp);
    const baggage = parseBaggage(req.headers.baggage as string | undefined);
    const source =
      srcWorkload &&
      `spiffe://${srcWorkload.trustDomain}/ns/${srcWorkload.namespace}/sa/${srcWorkload.serviceAccount}` ===
        principal
        ? peerOf(srcWorkload, principal)
        : {
            principal,
            ...(baggage.namespace ? { namespace: baggage.namespace } : {}),
            ...(baggage.workloadName ? { workload: baggage.workloadName } : {}),
            ...(baggage.service ? { canonicalService: baggage.service } : {}),
            ...(baggage.revision ? { canonicalRevision: baggage.revision } : {}),
            ...(baggage.cluster ? { cluster: baggage.cluster } : {}),
          };
    const record: ConnectionRecord = {
      info: { reporter: 'destination', source, destination: peerOf(local), mutualTls: true },
      srcAddr: formatAuthority(clientIp, req.remotePort),
      dstAddr: formatAuthority(normalizeIp(req.localAddress), 15008),
      hboneAddr: req.rawAuthority,
      startedAt: performance.now(),
      bytesFromClient: 0,
      bytesToClient: 0,
    };
    try {
      const { upstream, policy } = await this.admit(local, req, clientIp);
      if (policy) record.policy = policy;
      const untrack = this.d.tracker.add({
        workloadUid: local.uid,
        conn: {
          srcIp: clientIp,
          srcIdentity: req.peerIdentity,
          dstIp: req.authority.host,
          dstPort: req.authority.port,
        },
        close: (reason) => {
          this.d.logger.info({ 'src.addr': record.srcAddr, 'dst.hbone_addr': record.hboneAddr }, reason);
          upstream.resetAndDestroy();
        },
      });
      this.open.set(req, { record, untrack });
      return {
        status: 200,
        upstream,
        responseHeaders: {
          baggage: formatBaggage({
            cluster: local.clusterId,
            namespace: local.namespace,
            workloadType: local.workloadType,
            workloadName: local.workloadName || local.name,
            service: local.canonicalName,
            revision: local.canonicalRevision,
          }),
        },
      };
    } catch (err) {
      const e =
        err instanceof ProxyError ? err : new ProxyError('CONNECT', (err as Error).message, { cause: err });
      record.error = e;
      if (e.policy) record.policy = e.policy;
      this.d.telemetry.complete(record);
      return { status: hboneStatus(e), reason: e.message };
    }
  }

  /** Context checks and authorization, then the app connection. */
  private async admit(
    local: Workload,
    req: HboneRequest,
    clientIp: string,
  ): Promise<{ upstream: net.Socket; policy?: string }> {
    const target = req.authority;
    if (!target.isIp) throw new ProxyError('BAD_REQUEST', `authority ${req.rawAuthority} is not ip:port`);
    const targetIp = normalizeIp(target.host);
    if (
      targetIp !== normalizeIp(req.localAddress) ||
      !local.workloadIps.map(normalizeIp).includes(targetIp)
    ) {
      throw new ProxyError(
        'BAD_REQUEST',
        `authority ${req.rawAuthority} does not name this workload (${local.workloadIps.join(', ')})`,
      );
    }
    // The workload must still be known (it may have been removed since the listener opened).
    const current = this.d.state.findWorkload(local.uid);
    if (!current) throw new ProxyError('UNKNOWN_WORKLOAD', `workload ${local.uid} is unknown`);
    if (ILLEGAL_PORTS.has(target.port))
      throw new ProxyError('ILLEGAL_PORT', `port ${target.port} is ztunnel's own`);
    const { policies, missing } = selectPolicies(this.d.state.compiledPolicies(), current);
    if (missing.length > 0)
      this.d.logger.warn({ workload: current.uid, missing }, 'workload lists unknown authorization policies');
    const decision = evaluate(policies, {
      srcIp: clientIp,
      srcIdentity: req.peerIdentity,
      dstIp: targetIp,
      dstPort: target.port,
    });
    for (const dry of decision.dryRun)
      this.d.logger.info({ policy: dry.policy, action: dry.action }, 'dry-run policy matched');
    if (!decision.allowed) {
      throw new ProxyError('DENIED', decision.reason, decision.policy ? { policy: decision.policy } : {});
    }
    // A stream the peer already reset gets no application connection (rapid-reset floods
    // would otherwise dial the app once per HEADERS+RST_STREAM).
    if (req.signal.aborted)
      throw new ProxyError('ABORTED', 'the peer reset the stream before it was admitted');
    try {
      const upstream = await connected(this.d.sockets.connectApp(current, targetIp, target.port, clientIp));
      return decision.policy ? { upstream, policy: decision.policy } : { upstream };
    } catch (err) {
      throw new ProxyError(
        'CONNECT',
        `connect to ${formatAuthority(targetIp, target.port)} failed: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /** HboneServer's onTunnelEnd. */
  tunnelEnded(req: HboneRequest, result: PipeResult): void {
    const o = this.open.get(req);
    if (!o) return;
    o.untrack();
    o.record.bytesFromClient = result.bytesOut;
    o.record.bytesToClient = result.bytesIn;
    if (result.error) o.record.error = new ProxyError('ABORTED', result.error.message);
    this.d.telemetry.complete(o.record);
  }
}
