// L4 authorization as ztunnel evaluates it — shared spec ztunnel.md §6.1.
//
// Policies are compiled once from `istio.security.Authorization` (CIDRs parsed, matches
// flattened) and evaluated per connection:
//   1. dry-run policies: evaluated and reported, never enforced;
//   2. any matching DENY → deny;
//   3. no ALLOW policies → allow;
//   4. any matching ALLOW → allow;
//   5. otherwise deny ("allow policies exist, but none allowed").
// Matching: a policy with no rules never matches; a rule is the AND of its clauses (none →
// true); a clause is the OR of its matches (none → true); an empty match never matches; a
// match is the AND of its populated field kinds (positive list: any; negative list: none).
import type { istio } from '@ambient/proto';
import { cidrContains, parseIp } from './ip.js';

export interface PeerIdentity {
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

/** What a connection looks like to policy. */
export interface Connection {
  srcIp: string;
  /** Absent for plaintext (15006) connections. */
  srcIdentity?: PeerIdentity | undefined;
  dstIp: string;
  /** The real target port (not 15008). */
  dstPort: number;
}

export type Action = 'ALLOW' | 'DENY';

export interface Decision {
  allowed: boolean;
  /** `ns/name` of the deciding policy, when one decided. */
  policy?: string;
  reason: string;
  /** Dry-run policies that matched: what they would have done. */
  dryRun: { policy: string; action: Action }[];
}

type StringTest = (value: string) => boolean;
interface Cidr {
  net: Uint8Array;
  len: number;
}

interface CompiledMatch {
  namespaces: StringTest[];
  notNamespaces: StringTest[];
  serviceAccounts: { namespace: string; serviceAccount: string }[];
  notServiceAccounts: { namespace: string; serviceAccount: string }[];
  principals: StringTest[];
  notPrincipals: StringTest[];
  sourceIps: Cidr[];
  notSourceIps: Cidr[];
  destinationIps: Cidr[];
  notDestinationIps: Cidr[];
  destinationPorts: number[];
  notDestinationPorts: number[];
  empty: boolean;
}

export interface CompiledPolicy {
  /** `namespace/name`. */
  key: string;
  name: string;
  namespace: string;
  scope: 'GLOBAL' | 'NAMESPACE' | 'WORKLOAD_SELECTOR';
  action: Action;
  dryRun: boolean;
  /** rules[] of clauses[] of matches[]. */
  rules: CompiledMatch[][][];
}

const SCOPES = ['GLOBAL', 'NAMESPACE', 'WORKLOAD_SELECTOR'] as const;

function stringTest(m: istio.security.StringMatch): StringTest {
  switch (m.matchType) {
    case 'exact':
      return (v) => v === m.exact;
    case 'prefix':
      return (v) => v.startsWith(m.prefix!);
    case 'suffix':
      return (v) => v.endsWith(m.suffix!);
    case 'presence':
      return (v) => v !== '';
    default:
      // A StringMatch with nothing set matches nothing.
      return () => false;
  }
}

function cidrs(list: istio.security.Address[]): Cidr[] {
  return list.map((a) => ({ net: Uint8Array.from(a.address), len: a.length }));
}

function compileMatch(m: istio.security.Match): CompiledMatch {
  const c: CompiledMatch = {
    namespaces: m.namespaces.map(stringTest),
    notNamespaces: m.notNamespaces.map(stringTest),
    serviceAccounts: m.serviceAccounts.map((s) => ({
      namespace: s.namespace,
      serviceAccount: s.serviceAccount,
    })),
    notServiceAccounts: m.notServiceAccounts.map((s) => ({
      namespace: s.namespace,
      serviceAccount: s.serviceAccount,
    })),
    principals: m.principals.map(stringTest),
    notPrincipals: m.notPrincipals.map(stringTest),
    sourceIps: cidrs(m.sourceIps),
    notSourceIps: cidrs(m.notSourceIps),
    destinationIps: cidrs(m.destinationIps),
    notDestinationIps: cidrs(m.notDestinationIps),
    destinationPorts: [...m.destinationPorts],
    notDestinationPorts: [...m.notDestinationPorts],
    empty: false,
  };
  c.empty = Object.entries(c).every(([k, v]) => k === 'empty' || (Array.isArray(v) && v.length === 0));
  return c;
}

export function compilePolicy(p: istio.security.Authorization): CompiledPolicy {
  return {
    key: `${p.namespace}/${p.name}`,
    name: p.name,
    namespace: p.namespace,
    scope: SCOPES[p.scope] ?? 'WORKLOAD_SELECTOR',
    action: p.action === 1 ? 'DENY' : 'ALLOW',
    dryRun: p.dryRun,
    rules: p.rules.map((r) => r.clauses.map((cl) => cl.matches.map(compileMatch))),
  };
}

interface Prepared {
  principal: string;
  namespace: string;
  identity?: PeerIdentity;
  srcIp?: Uint8Array;
  dstIp?: Uint8Array;
  dstPort: number;
}

function prepare(conn: Connection): Prepared {
  const id = conn.srcIdentity;
  const p: Prepared = {
    principal: id ? `${id.trustDomain}/ns/${id.namespace}/sa/${id.serviceAccount}` : '',
    namespace: id?.namespace ?? '',
    dstPort: conn.dstPort,
  };
  if (id) p.identity = id;
  const src = parseIp(conn.srcIp);
  const dst = parseIp(conn.dstIp);
  if (src) p.srcIp = src;
  if (dst) p.dstIp = dst;
  return p;
}

const anyCidr = (list: Cidr[], ip: Uint8Array | undefined) =>
  ip !== undefined && list.some((c) => cidrContains(c.net, c.len, ip));
const anySa = (list: { namespace: string; serviceAccount: string }[], id: PeerIdentity | undefined) =>
  id !== undefined &&
  list.some((s) => s.namespace === id.namespace && s.serviceAccount === id.serviceAccount);

function matchOne(m: CompiledMatch, c: Prepared): boolean {
  if (m.empty) return false;
  // Positive principal / namespace / service-account lists never match an unauthenticated peer.
  if (m.principals.length > 0 && (!c.identity || !m.principals.some((t) => t(c.principal)))) return false;
  if (m.notPrincipals.some((t) => t(c.principal))) return false;
  if (m.namespaces.length > 0 && (!c.identity || !m.namespaces.some((t) => t(c.namespace)))) return false;
  if (m.notNamespaces.some((t) => t(c.namespace))) return false;
  if (m.serviceAccounts.length > 0 && !anySa(m.serviceAccounts, c.identity)) return false;
  if (anySa(m.notServiceAccounts, c.identity)) return false;
  if (m.sourceIps.length > 0 && !anyCidr(m.sourceIps, c.srcIp)) return false;
  if (anyCidr(m.notSourceIps, c.srcIp)) return false;
  if (m.destinationIps.length > 0 && !anyCidr(m.destinationIps, c.dstIp)) return false;
  if (anyCidr(m.notDestinationIps, c.dstIp)) return false;
  if (m.destinationPorts.length > 0 && !m.destinationPorts.includes(c.dstPort)) return false;
  if (m.notDestinationPorts.includes(c.dstPort)) return false;
  return true;
}

function policyMatches(p: CompiledPolicy, c: Prepared): boolean {
  // No rules: never matches. A rule: every clause true; a clause: some match true (none → true).
  return p.rules.some((clauses) =>
    clauses.every((matches) => matches.length === 0 || matches.some((m) => matchOne(m, c))),
  );
}

/** Evaluates the policies that apply to a destination (see `selectPolicies`). */
export function evaluate(policies: Iterable<CompiledPolicy>, conn: Connection): Decision {
  const c = prepare(conn);
  const dryRun: Decision['dryRun'] = [];
  const allows: CompiledPolicy[] = [];
  for (const p of policies) {
    if (p.dryRun) {
      if (policyMatches(p, c)) dryRun.push({ policy: p.key, action: p.action });
      continue;
    }
    if (p.action === 'DENY') {
      if (policyMatches(p, c))
        return { allowed: false, policy: p.key, reason: `explicitly denied by: ${p.key}`, dryRun };
    } else allows.push(p);
  }
  if (allows.length === 0) return { allowed: true, reason: 'no allow policies', dryRun };
  for (const p of allows) {
    if (policyMatches(p, c)) return { allowed: true, policy: p.key, reason: `allowed by: ${p.key}`, dryRun };
  }
  return { allowed: false, reason: 'allow policies exist, but none allowed', dryRun };
}

/**
 * The policies for a destination workload (spec §6.1): NAMESPACE-scoped ones in its
 * namespace, every GLOBAL one, and the WORKLOAD_SELECTOR keys the workload lists.
 * Listed keys that are unknown are returned in `missing` (ztunnel warns and skips them).
 */
export function selectPolicies(
  all: ReadonlyMap<string, CompiledPolicy>,
  workload: { namespace: string; authorizationPolicies: readonly string[] },
): { policies: CompiledPolicy[]; missing: string[] } {
  const policies: CompiledPolicy[] = [];
  const missing: string[] = [];
  for (const p of all.values()) {
    if (p.scope === 'GLOBAL' || (p.scope === 'NAMESPACE' && p.namespace === workload.namespace))
      policies.push(p);
  }
  for (const key of workload.authorizationPolicies) {
    const p = all.get(key);
    if (!p) missing.push(key);
    else if (p.scope === 'WORKLOAD_SELECTOR' && !policies.includes(p)) policies.push(p);
  }
  return { policies, missing };
}
