// The capture rules inside a pod's network namespace — shared spec ztunnel.md §5.1 (Istio's
// in-pod rule set, istio cni/pkg/iptables testdata/default.golden), IPv4:
//   nat    ISTIO_PRERT : TCP from the kubelet probe address 169.254.7.127 is accepted;
//                        other inbound TCP (dst ≠ 127.0.0.1, dport ≠ 15008, not marked 0x539)
//                        → REDIRECT 15006 (inbound plaintext);
//   nat    ISTIO_OUTPUT: TCP to 169.254.7.127 accepted; connmark 0x111 accepted; traffic to a
//                        local non-loopback address via lo accepted; other TCP not marked 0x539
//                        → REDIRECT 15001 (outbound);
//   mangle ISTIO_PRERT : packets marked 0x539 (ztunnel's own) set connmark 0x111;
//   mangle ISTIO_OUTPUT: connmark 0x111 is restored onto replies, which policy routing
//                        (fwmark 0x111 → table 100: local 0.0.0.0/0 dev lo) keeps local — how the
//                        app can answer a connection ztunnel opened from the client's IP.
// Inbound HBONE (15008) is not redirected: ztunnel's 15008 listener lives in the pod.
// DNS capture (15053) is not installed: there is no DNS proxy yet.
// Install is idempotent (our chains are re-declared, i.e. flushed, and jumps added once);
// removal deletes every rule, chain, ip rule and route it added.
import { execFile } from 'node:child_process';

export const ZTUNNEL_MARK = 0x539;
export const CONN_MARK = 0x111;
export const PROBE_SNAT_IP = '169.254.7.127';
export const ROUTE_TABLE = 100;
const MASK = '0xfff';
const PORTS = { outbound: 15001, inboundPlaintext: 15006, hbone: 15008 };

export class PodRulesError extends Error {
  readonly code = 'POD_RULES';
}

function run(nsPath: string, file: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'nsenter',
      [`--net=${nsPath}`, file, ...args],
      { timeout: 15_000 },
      (err, stdout, stderr) => {
        if (err)
          reject(
            new PodRulesError(
              `${file} ${args.join(' ')} in ${nsPath}: ${String(stderr).trim() || err.message}`,
            ),
          );
        else resolve(String(stdout));
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** The rules, as iptables-restore input (without the jumps from the built-in chains). */
export function podRuleTables(): { mangle: string[]; nat: string[] } {
  return {
    mangle: [
      `-A ISTIO_PRERT -m mark --mark ${hex(ZTUNNEL_MARK)}/${MASK} -j CONNMARK --set-xmark ${hex(CONN_MARK)}/${MASK}`,
      `-A ISTIO_OUTPUT -m connmark --mark ${hex(CONN_MARK)}/${MASK} -j CONNMARK --restore-mark --nfmask 0xffffffff --ctmask 0xffffffff`,
    ],
    nat: [
      `-A ISTIO_PRERT -s ${PROBE_SNAT_IP}/32 -p tcp -m tcp -j ACCEPT`,
      `-A ISTIO_PRERT ! -d 127.0.0.1/32 -p tcp -m tcp ! --dport ${PORTS.hbone} -m mark ! --mark ${hex(ZTUNNEL_MARK)}/${MASK} -j REDIRECT --to-ports ${PORTS.inboundPlaintext}`,
      `-A ISTIO_OUTPUT -d ${PROBE_SNAT_IP}/32 -p tcp -m tcp -j ACCEPT`,
      `-A ISTIO_OUTPUT -p tcp -m mark --mark ${hex(CONN_MARK)}/${MASK} -j ACCEPT`,
      `-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -o lo -j ACCEPT`,
      `-A ISTIO_OUTPUT ! -d 127.0.0.1/32 -p tcp -m mark ! --mark ${hex(ZTUNNEL_MARK)}/${MASK} -j REDIRECT --to-ports ${PORTS.outbound}`,
    ],
  };
}

const JUMPS = [
  ['PREROUTING', 'ISTIO_PRERT'],
  ['OUTPUT', 'ISTIO_OUTPUT'],
] as const;

async function existingJumps(nsPath: string, table: 'nat' | 'mangle'): Promise<Set<string>> {
  const saved = await run(nsPath, 'iptables-save', ['-t', table]);
  return new Set(JUMPS.filter(([from, to]) => saved.includes(`-A ${from} -j ${to}`)).map(([from]) => from));
}

/** Installs (or re-installs, without duplicates) the capture rules in a pod's namespace. */
export async function installPodRules(nsPath: string): Promise<void> {
  const tables = podRuleTables();
  let input = '';
  for (const table of ['mangle', 'nat'] as const) {
    const present = await existingJumps(nsPath, table);
    input += `*${table}\n:ISTIO_PRERT - [0:0]\n:ISTIO_OUTPUT - [0:0]\n${tables[table].join('\n')}\n`;
    for (const [from, to] of JUMPS) if (!present.has(from)) input += `-A ${from} -j ${to}\n`;
    input += 'COMMIT\n';
  }
  await run(nsPath, 'iptables-restore', ['-w', '5', '--noflush'], input);
  const rules = await run(nsPath, 'ip', ['rule', 'show']);
  if (!rules.includes(`fwmark ${hex(CONN_MARK)}/${MASK} lookup ${ROUTE_TABLE}`)) {
    await run(nsPath, 'ip', [
      'rule',
      'add',
      'fwmark',
      `${hex(CONN_MARK)}/${MASK}`,
      'pref',
      '32764',
      'lookup',
      String(ROUTE_TABLE),
    ]);
  }
  await run(nsPath, 'ip', [
    'route',
    'replace',
    'local',
    '0.0.0.0/0',
    'dev',
    'lo',
    'table',
    String(ROUTE_TABLE),
  ]);
}

/** Removes everything installPodRules added. Safe to call when nothing is installed. */
export async function removePodRules(nsPath: string): Promise<void> {
  let input = '';
  for (const table of ['mangle', 'nat'] as const) {
    const saved = await run(nsPath, 'iptables-save', ['-t', table]);
    if (!saved.includes(':ISTIO_PRERT') && !saved.includes(':ISTIO_OUTPUT')) continue;
    input += `*${table}\n`;
    for (const [from, to] of JUMPS)
      if (saved.includes(`-A ${from} -j ${to}`)) input += `-D ${from} -j ${to}\n`;
    input += ':ISTIO_PRERT - [0:0]\n:ISTIO_OUTPUT - [0:0]\n-X ISTIO_PRERT\n-X ISTIO_OUTPUT\nCOMMIT\n';
  }
  if (input) await run(nsPath, 'iptables-restore', ['-w', '5', '--noflush'], input);
  const rules = await run(nsPath, 'ip', ['rule', 'show']);
  if (rules.includes(`lookup ${ROUTE_TABLE}`))
    await run(nsPath, 'ip', [
      'rule',
      'del',
      'fwmark',
      `${hex(CONN_MARK)}/${MASK}`,
      'lookup',
      String(ROUTE_TABLE),
    ]);
  await run(nsPath, 'ip', ['route', 'flush', 'table', String(ROUTE_TABLE)]).catch(() => undefined);
}

/** The capture rules currently in a pod's namespace (for tests and `ztunnel-config`). */
export async function dumpPodRules(nsPath: string): Promise<string> {
  return (await run(nsPath, 'iptables-save', []))
    .split('\n')
    .filter((l) => l.includes('ISTIO_'))
    .join('\n');
}
