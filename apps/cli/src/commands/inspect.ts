// `ambientctl ztunnel-config …` (from a ztunnel's admin port, /config_dump) and
// `ambientctl proxy-status` (from the controller's /debug/syncz).
import { getJson } from '../http-get.js';
import { type Format, print } from '../output.js';

interface Dump {
  workloads: {
    uid: string;
    name: string;
    namespace: string;
    workloadIps: string[];
    node: string;
    protocol: string;
    serviceAccount: string;
    waypoint?: unknown;
  }[];
  services: {
    hostname: string;
    namespace: string;
    vips: { network: string; ip: string }[];
    ports: Record<string, number>;
    waypoint?: unknown;
  }[];
  policies: { name: string; namespace: string; scope: string; action: string; rules: number }[];
  certificates: {
    identity: string;
    state: string;
    certChain: { serialNumber?: string; validFrom?: string; expirationTime?: string }[];
  }[];
}

export async function ztunnelConfig(
  kind: string,
  o: { admin: string; netns?: string; output: Format },
): Promise<void> {
  const dump = await getJson<Dump>(`http://${o.admin}/config_dump`, o.netns);
  switch (kind) {
    case 'workloads':
    case 'workload':
      return print(
        dump.workloads.map((w) => ({
          namespace: w.namespace,
          pod: w.name,
          address: w.workloadIps.join(','),
          node: w.node,
          protocol: w.protocol,
          identity: `${w.namespace}/${w.serviceAccount}`,
          waypoint: w.waypoint ? 'yes' : '',
        })),
        o.output,
        dump.workloads,
      );
    case 'services':
    case 'service':
      return print(
        dump.services.map((s) => ({
          namespace: s.namespace,
          hostname: s.hostname,
          vips: s.vips.map((v) => v.ip).join(','),
          ports: Object.entries(s.ports)
            .map(([p, t]) => `${p}->${t}`)
            .join(','),
          waypoint: s.waypoint ? 'yes' : '',
        })),
        o.output,
        dump.services,
      );
    case 'policies':
    case 'policy':
      return print(
        dump.policies.map((p) => ({
          namespace: p.namespace,
          name: p.name,
          scope: p.scope,
          action: p.action,
          rules: p.rules,
        })),
        o.output,
        dump.policies,
      );
    case 'certificates':
    case 'certificate':
    case 'secret':
      return print(
        dump.certificates.map((c) => ({
          identity: c.identity,
          state: c.state,
          serial: c.certChain[0]?.serialNumber ?? '',
          expires: c.certChain[0]?.expirationTime ?? '',
        })),
        o.output,
        dump.certificates,
      );
    case 'all':
      return print([], o.output === 'table' ? 'json' : o.output, dump);
    default:
      throw new Error(`unknown kind "${kind}": use workloads, services, policies, certificates or all`);
  }
}

interface Conn {
  proxy: { id: string };
  protocol: string;
  connectedAt: string;
  types: {
    typeUrl: string;
    resources: number;
    acks: number;
    nacks: number;
    sentNonce?: string;
    ackedNonce?: string;
    lastNack?: { message: string };
  }[];
}

export async function proxyStatus(o: { controller: string; netns?: string; output: Format }): Promise<void> {
  const conns = await getJson<Conn[]>(`http://${o.controller}/debug/syncz`, o.netns);
  const short = (url: string) => url.split('/').pop()!.split('.').pop()!;
  print(
    conns.map((c) => ({
      proxy: c.proxy.id,
      ...Object.fromEntries(
        c.types.map((t) => [
          short(t.typeUrl),
          `${t.sentNonce && t.sentNonce === t.ackedNonce ? 'SYNCED' : t.lastNack ? 'NACKED' : 'STALE'} (${t.resources})`,
        ]),
      ),
      connected: c.connectedAt,
    })),
    o.output,
    conns,
  );
}
