// The CONNECT request — shared spec ztunnel.md §1.3: `:authority` = `ip:port` (IPv6 in
// brackets), and the `baggage`, `forwarded` and `traceparent` headers as ztunnel sends them.
import { randomFillSync } from 'node:crypto';
import net from 'node:net';

export function formatAuthority(ip: string, port: number): string {
  return net.isIPv6(ip) ? `[${ip}]:${port}` : `${ip}:${port}`;
}

export interface Authority {
  host: string;
  port: number;
  /** True when host is an IP literal (the usual case); false for `hostname:port`. */
  isIp: boolean;
}

/** Parses `ip:port`, `[ipv6]:port` or `host:port`; undefined when malformed. */
export function parseAuthority(authority: string | undefined): Authority | undefined {
  if (!authority) return undefined;
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(authority) ?? /^([^:[\]]+):(\d{1,5})$/.exec(authority);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  const host = m[1]!;
  const isIp = net.isIP(host) !== 0;
  if (!isIp && !/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(host)) return undefined;
  return { host, port, isIp };
}

/** Source workload metadata for `baggage` (spec §1.3; ztunnel src/baggage.rs). */
export interface BaggageInfo {
  cluster?: string;
  namespace?: string;
  workloadType?: string; // deployment | cronjob | pod | job
  workloadName?: string;
  service?: string; // canonical name
  revision?: string; // canonical revision
  region?: string;
  zone?: string;
}

export function formatBaggage(b: BaggageInfo): string {
  const pairs: [string, string | undefined][] = [
    ['k8s.cluster.name', b.cluster],
    ['k8s.namespace.name', b.namespace],
    [`k8s.${b.workloadType ?? 'deployment'}.name`, b.workloadName],
    ['service.name', b.service],
    ['service.version', b.revision],
    ['cloud.region', b.region],
    ['cloud.availability_zone', b.zone],
  ];
  return pairs
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export function parseBaggage(header: string | undefined): BaggageInfo {
  const out: BaggageInfo = {};
  for (const part of (header ?? '').split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    const k = part.slice(0, i).trim();
    const v = part.slice(i + 1).trim();
    if (k === 'k8s.cluster.name') out.cluster = v;
    else if (k === 'k8s.namespace.name') out.namespace = v;
    else if (k === 'service.name') out.service = v;
    else if (k === 'service.version') out.revision = v;
    else if (k === 'cloud.region') out.region = v;
    else if (k === 'cloud.availability_zone') out.zone = v;
    else {
      const m = /^k8s\.([a-z]+)\.name$/.exec(k);
      if (m) {
        out.workloadType = m[1]!;
        out.workloadName = v;
      }
    }
  }
  return out;
}

/** `for="<client ip:port>"` plus `;host=<service hostname>` when the service is known. */
export function formatForwarded(clientIp: string, clientPort: number, serviceHost?: string): string {
  const f = `for="${formatAuthority(clientIp, clientPort)}"`;
  return serviceHost ? `${f};host=${serviceHost}` : f;
}

// Entropy for trace ids, drawn 4 KiB at a time: two randomBytes calls per connection were
// 3 % of a ztunnel's CPU at its maximum connection rate.
const entropy = Buffer.alloc(4096);
let entropyAt = entropy.length;

/** W3C traceparent, random per connection, no sampling flag: `00-<32 hex>-<16 hex>-00`. */
export function newTraceparent(): string {
  if (entropyAt + 24 > entropy.length) {
    randomFillSync(entropy);
    entropyAt = 0;
  }
  const id = entropy.toString('hex', entropyAt, entropyAt + 24);
  entropyAt += 24;
  return `00-${id.slice(0, 32)}-${id.slice(32)}-00`;
}
