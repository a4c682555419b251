// Outbound — shared spec ztunnel.md §1.3, §1.6. A connection from a local workload to
// (ip, port) is routed (route.ts), then carried in HBONE (pooled, mutual TLS with the source
// workload's identity) or passed through as plain TCP. Failures cannot be signalled at L4:
// the client connection is reset. Phases: route → connect → pipe → record.
import type net from 'node:net';
import {
  formatAuthority,
  formatBaggage,
  formatForwarded,
  type HbonePool,
  newTraceparent,
  pipeTunnel,
} from '@ambient/hbone';
import type { Logger } from '@ambient/telemetry';
import type { ProxyState } from '../state/proxy-state.js';
import { normalizeIp } from '../state/proxy-state.js';
import { type Workload, workloadIdentity } from '../state/types.js';
import { ProxyError } from './errors.js';
import { ILLEGAL_PORTS, routeOutbound } from './route.js';
import { connected, type SocketFactory } from './sockets.js';
import { type ConnectionRecord, type ConnectionTelemetry, peerOf, serviceInfo } from './telemetry.js';

// The baggage header depends only on the source workload: built once per workload object
// (replaced, never modified, on update), not once per connection.
const baggages = new WeakMap<Workload, string>();
function baggageOf(source: Workload): string {
  let b = baggages.get(source);
  if (b === undefined) {
    b = formatBaggage({
      cluster: source.clusterId,
      namespace: source.namespace,
      workloadType: source.workloadType,
      workloadName: source.workloadName || source.name,
      service: source.canonicalName,
      revision: source.canonicalRevision,
      ...(source.locality ? { region: source.locality.region, zone: source.locality.zone } : {}),
    });
    baggages.set(source, b);
  }
  return b;
}

export interface OutboundDeps {
  state: ProxyState;
  pool: HbonePool;
  sockets: SocketFactory;
  telemetry: ConnectionTelemetry;
  logger: Logger;
}

export class Outbound {
  private open = 0;

  constructor(private readonly d: OutboundDeps) {}

  get openConnections(): number {
    return this.open;
  }

  async handle(client: net.Socket, dst: { ip: string; port: number }, source: Workload): Promise<void> {
    this.open++;
    client.setNoDelay(true);
    client.on('error', () => {}); // reported through the pipe result
    const srcIp = normalizeIp(client.remoteAddress ?? '');
    const record: ConnectionRecord = {
      info: { reporter: 'source', source: peerOf(source), destination: {}, mutualTls: false },
      srcAddr: formatAuthority(srcIp, client.remotePort ?? 0),
      dstAddr: formatAuthority(dst.ip, dst.port),
      startedAt: performance.now(),
      bytesFromClient: 0,
      bytesToClient: 0,
    };
    try {
      await this.proxy(client, dst, source, srcIp, record);
    } catch (err) {
      record.error =
        err instanceof ProxyError ? err : new ProxyError('HBONE', (err as Error).message, { cause: err });
      if (!client.destroyed) client.resetAndDestroy();
    } finally {
      this.open--;
      record.bytesFromClient = client.bytesRead;
      record.bytesToClient = client.bytesWritten;
      this.d.telemetry.complete(record);
    }
  }

  private async proxy(
    client: net.Socket,
    dst: { ip: string; port: number },
    source: Workload,
    srcIp: string,
    record: ConnectionRecord,
  ): Promise<void> {
    const dstIp = normalizeIp(dst.ip);
    const toSelf =
      dstIp.startsWith('127.') || dstIp === '::1' || source.workloadIps.map(normalizeIp).includes(dstIp);
    if (ILLEGAL_PORTS.has(dst.port) && toSelf) {
      throw new ProxyError(
        'ILLEGAL_PORT',
        `refusing a connection to ztunnel's own port ${dst.port} (a loop)`,
      );
    }
    const route = routeOutbound(this.d.state, { source, dstIp: dst.ip, dstPort: dst.port });
    if (route.service) record.info.service = serviceInfo(route.service);
    if (route.kind === 'fail') throw new ProxyError('NO_UPSTREAM', route.reason);
    if (route.kind === 'passthrough') {
      if (route.destination) record.info.destination = peerOf(route.destination);
      record.dstAddr = formatAuthority(route.ip, route.port);
      const upstream = await connected(
        this.d.sockets.dialPassthrough(source, srcIp, route.ip, route.port),
      ).catch((err: Error) => {
        throw new ProxyError('CONNECT', `connect to ${record.dstAddr} failed: ${err.message}`, {
          cause: err,
        });
      });
      const result = await pipeTunnel(client, upstream);
      if (result.error) record.error = new ProxyError('ABORTED', result.error.message);
      return;
    }
    record.info.mutualTls = true;
    record.info.destination = route.destination
      ? peerOf(route.destination)
      : { principal: route.expectedIdentities[0] };
    record.dstAddr = formatAuthority(route.dialIp, route.dialPort);
    record.hboneAddr = formatAuthority(route.authority.ip, route.authority.port);
    let stream: Awaited<ReturnType<HbonePool['connect']>>;
    try {
      stream = await this.d.pool.connect(
        {
          srcIdentity: workloadIdentity(source),
          dstIdentities: route.expectedIdentities,
          dstIp: route.dialIp,
          dstPort: route.dialPort,
          srcIp,
        },
        {
          authority: record.hboneAddr,
          headers: {
            baggage: baggageOf(source),
            forwarded: formatForwarded(srcIp, client.remotePort ?? 0, route.service?.hostname),
            traceparent: newTraceparent(),
          },
        },
      );
    } catch (err) {
      const status = (err as { status?: number }).status;
      const e = new ProxyError(
        'HBONE',
        `HBONE to ${record.dstAddr} for ${record.hboneAddr} failed: ${(err as Error).message}`,
        { cause: err },
      );
      if (status === 401) (e as { code: string }).code = 'DENIED';
      throw e;
    }
    const result = await pipeTunnel(client, stream);
    if (result.error) record.error = new ProxyError('ABORTED', result.error.message);
  }
}
