// How the waypoint reaches an endpoint: an HBONE tunnel to the endpoint's ztunnel when the
// endpoint is in the mesh (its CLA metadata says tunnel=http and names its identity) — the
// waypoint's own identity on the client certificate — or plain TCP otherwise, bounded by the
// cluster's connect timeout. Shared spec ztunnel.md §1 (HBONE), waypoint.md §5 (clusters).
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { HBONE_PORT, type HbonePool } from '@ambient/hbone';
import type { Endpoint } from './cluster.js';

export interface UpstreamConnector {
  pool: HbonePool;
  /** SPIFFE id the waypoint presents. */
  identity: string;
  /** Port of the endpoint's ztunnel; 15008 except in benchmarks on loopback. */
  hbonePort?: number;
}

export function connectEndpoint(
  c: UpstreamConnector,
  ep: Endpoint,
  connectTimeoutMs: number,
): Promise<Duplex> {
  if (ep.hbone && ep.identity) {
    return c.pool.connect(
      {
        srcIdentity: c.identity,
        dstIdentities: [ep.identity],
        dstIp: ep.ip,
        dstPort: c.hbonePort ?? HBONE_PORT,
      },
      { authority: `${ep.ip}:${ep.port}` },
    );
  }
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: ep.ip, port: ep.port });
    const timer = setTimeout(() => s.destroy(new Error('connect timeout')), connectTimeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.setNoDelay(true);
      resolve(s);
    });
    s.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
