// AuthorizationPolicy and PeerAuthentication → istio.security.Authorization — shared spec
// ztunnel.md §6.2 (istio pilot/pkg/serviceregistry/ambient/authorization.go, policies.go):
// - ALLOW/DENY only; CUSTOM and AUDIT are not sent (warning);
// - policies with targetRef(s) are for waypoints, not ztunnel;
// - scope: selector → WORKLOAD_SELECTOR, none → NAMESPACE, none in the root namespace → GLOBAL;
// - per rule: all `to`s → one clause of port matches; all `from`s → one clause of source
//   matches; each `when` → its own clause; strings `*` → presence, `*x` suffix, `x*` prefix;
// - L7 fields ztunnel cannot enforce: in ALLOW the whole rule is dropped (stricter); in DENY
//   they are omitted and the L4 parts kept (stricter), and a DENY rule with nothing
//   enforceable left is dropped; each case is a warning the user can see;
// - STRICT PeerAuthentication → the static `<root>/istio_converted_static_strict` DENY of
//   unauthenticated traffic, listed on the workloads it applies to.
import type { ObjectOf } from '@ambient/model';
import { parseIp } from '@ambient/policy';
import type { Init, istio } from '@ambient/proto';
import { LABELS, nsOf, type Objects, selectorMatches, type TranslateOptions } from './model-view.js';

type Authorization = Init<istio.security.Authorization>;
type Match = Init<istio.security.Match>;
type StringMatch = Init<istio.security.StringMatch>;

export const STATIC_STRICT = 'istio_converted_static_strict';
const SUPPORTED_WHEN = new Set([
  'source.ip',
  'source.namespace',
  'source.principal',
  'destination.ip',
  'destination.port',
]);

export interface AuthorizationOutput {
  policies: Map<string, Authorization>;
  warnings: string[];
}

export function stringMatch(v: string): StringMatch {
  if (v === '*') return { presence: {} };
  if (v.startsWith('*')) return { suffix: v.slice(1) };
  if (v.endsWith('*')) return { prefix: v.slice(0, -1) };
  return { exact: v };
}

function cidr(v: string): Init<istio.security.Address> | undefined {
  const [addr, len] = v.split('/');
  const bytes = parseIp(addr ?? '');
  if (!bytes) return undefined;
  const max = bytes.length * 8;
  const prefix = len === undefined ? max : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) return undefined;
  return { address: bytes, length: prefix };
}

const cidrs = (vs: string[] | undefined) =>
  (vs ?? []).map(cidr).filter((x): x is Init<istio.security.Address> => x !== undefined);
const ports = (vs: string[] | undefined) =>
  (vs ?? []).map(Number).filter((n) => Number.isInteger(n) && n > 0 && n <= 65535);
const strs = (vs: string[] | undefined) => (vs ?? []).map(stringMatch);

function serviceAccounts(
  vs: string[] | undefined,
  ruleNs: string,
): Init<istio.security.ServiceAccountMatch>[] {
  return (vs ?? []).map((v) => {
    const i = v.indexOf('/');
    return i >= 0
      ? { namespace: v.slice(0, i), serviceAccount: v.slice(i + 1) }
      : { namespace: ruleNs, serviceAccount: v };
  });
}

type Rule = NonNullable<ObjectOf<'AuthorizationPolicy'>['spec']['rules']>[number];

/** Translates one rule; returns the clauses and the names of fields ztunnel cannot enforce. */
function translateRule(
  rule: Rule,
  ns: string,
): { clauses: Init<istio.security.Clause>[]; unsupported: string[] } {
  const unsupported: string[] = [];
  const clauses: Init<istio.security.Clause>[] = [];
  if (rule.to) {
    const matches: Match[] = [];
    for (const t of rule.to) {
      const op = t.operation;
      for (const f of ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'] as const)
        if (op[f]?.length) unsupported.push(`to.operation.${f}`);
      const m: Match = { destinationPorts: ports(op.ports), notDestinationPorts: ports(op.notPorts) };
      if (m.destinationPorts!.length || m.notDestinationPorts!.length) matches.push(m);
      else if (!hasL7Op(op)) matches.push(m); // `to: [{operation: {}}]`: an empty match
    }
    if (matches.length) clauses.push({ matches });
  }
  if (rule.from) {
    const matches: Match[] = [];
    for (const f of rule.from) {
      const s = f.source;
      for (const k of [
        'requestPrincipals',
        'notRequestPrincipals',
        'remoteIpBlocks',
        'notRemoteIpBlocks',
      ] as const)
        if (s[k]?.length) unsupported.push(`from.source.${k}`);
      matches.push({
        sourceIps: cidrs(s.ipBlocks),
        notSourceIps: cidrs(s.notIpBlocks),
        namespaces: strs(s.namespaces),
        notNamespaces: strs(s.notNamespaces),
        serviceAccounts: serviceAccounts(s.serviceAccounts, ns),
        notServiceAccounts: serviceAccounts(s.notServiceAccounts, ns),
        principals: strs(s.principals),
        notPrincipals: strs(s.notPrincipals),
      });
    }
    clauses.push({ matches });
  }
  for (const w of rule.when ?? []) {
    if (!SUPPORTED_WHEN.has(w.key)) {
      unsupported.push(`when.${w.key}`);
      continue;
    }
    const pos = w.values ?? [];
    const neg = w.notValues ?? [];
    const m: Match =
      w.key === 'source.ip'
        ? { sourceIps: cidrs(pos), notSourceIps: cidrs(neg) }
        : w.key === 'source.namespace'
          ? { namespaces: strs(pos), notNamespaces: strs(neg) }
          : w.key === 'source.principal'
            ? { principals: strs(pos), notPrincipals: strs(neg) }
            : w.key === 'destination.ip'
              ? { destinationIps: cidrs(pos), notDestinationIps: cidrs(neg) }
              : { destinationPorts: ports(pos), notDestinationPorts: ports(neg) };
    clauses.push({ matches: [m] });
  }
  return { clauses, unsupported };
}

function hasL7Op(
  op: Rule extends { to?: (infer T)[] } ? (T extends { operation: infer O } ? O : never) : never,
): boolean {
  return ['hosts', 'notHosts', 'methods', 'notMethods', 'paths', 'notPaths'].some(
    (f) => ((op as Record<string, unknown[] | undefined>)[f]?.length ?? 0) > 0,
  );
}

export function translateAuthorizationPolicy(
  p: ObjectOf<'AuthorizationPolicy'>,
  o: TranslateOptions,
): { policy?: Authorization; warnings: string[] } {
  const ns = nsOf(p);
  const ref = `AuthorizationPolicy/${ns}/${p.metadata.name}`;
  if (p.spec.targetRef || p.spec.targetRefs?.length) return { warnings: [] }; // for waypoints
  if (p.spec.action === 'CUSTOM' || p.spec.action === 'AUDIT') {
    return {
      warnings: [
        `${ref}: ztunnel does not support the ${p.spec.action} action; the policy is not enforced at L4`,
      ],
    };
  }
  const warnings: string[] = [];
  const rules: Init<istio.security.Rule>[] = [];
  for (const [i, rule] of (p.spec.rules ?? []).entries()) {
    const { clauses, unsupported } = translateRule(rule, ns);
    if (unsupported.length > 0) {
      const found = [...new Set(unsupported)].join(', ');
      warnings.push(
        `${ref}: rule ${i}: ztunnel does not support HTTP attributes (found: ${found}). In ambient mode you must use a waypoint proxy to enforce HTTP rules. ` +
          (p.spec.action === 'ALLOW'
            ? 'The rule is ignored (nothing is allowed by it).'
            : 'Only the L4 parts of the rule are enforced.'),
      );
      if (p.spec.action === 'ALLOW') continue;
      if (clauses.length === 0) continue; // a DENY with nothing enforceable left is a no-op
    }
    rules.push({ clauses });
  }
  return {
    policy: {
      name: p.metadata.name,
      namespace: ns,
      scope: p.spec.selector ? 2 : ns === o.rootNamespace ? 0 : 1,
      action: p.spec.action === 'DENY' ? 1 : 0,
      rules,
      dryRun: p.metadata.annotations[LABELS.dryRun] === 'true',
    },
    warnings,
  };
}

/** The static STRICT policy (spec §6.2): deny anything without a peer identity. */
export function staticStrictPolicy(o: TranslateOptions): Authorization {
  return {
    name: STATIC_STRICT,
    namespace: o.rootNamespace,
    scope: 2,
    action: 1,
    rules: [{ clauses: [{ matches: [{ notPrincipals: [{ presence: {} }] }] }] }],
  };
}

/** The effective mTLS mode of a pod: workload PeerAuthentication > namespace > mesh (root) > PERMISSIVE. */
export function mtlsModeFor(
  pod: ObjectOf<'Pod'>,
  pas: ObjectOf<'PeerAuthentication'>[],
  o: TranslateOptions,
): string {
  const ns = nsOf(pod);
  const mode = (p: ObjectOf<'PeerAuthentication'> | undefined) => {
    const m = p?.spec.mtls?.mode;
    return m && m !== 'UNSET' ? m : undefined;
  };
  const workload = pas.filter(
    (p) =>
      nsOf(p) === ns && p.spec.selector && selectorMatches(p.spec.selector.matchLabels, pod.metadata.labels),
  );
  const namespace = pas.find((p) => nsOf(p) === ns && !p.spec.selector);
  const mesh = pas.find((p) => nsOf(p) === o.rootNamespace && !p.spec.selector);
  return mode(workload[0]) ?? mode(namespace) ?? mode(mesh) ?? 'PERMISSIVE';
}

export function translateAuthorization(
  objects: Objects,
  o: TranslateOptions,
): AuthorizationOutput & { keysFor(pod: ObjectOf<'Pod'>): string[] } {
  const out: AuthorizationOutput = { policies: new Map(), warnings: [] };
  const selectorPolicies: ObjectOf<'AuthorizationPolicy'>[] = [];
  for (const p of objects.AuthorizationPolicy) {
    const { policy, warnings } = translateAuthorizationPolicy(p, o);
    out.warnings.push(...warnings);
    if (!policy) continue;
    out.policies.set(`${policy.namespace}/${policy.name}`, policy);
    if (p.spec.selector) selectorPolicies.push(p);
  }
  out.policies.set(`${o.rootNamespace}/${STATIC_STRICT}`, staticStrictPolicy(o));
  for (const pa of objects.PeerAuthentication) {
    if (pa.spec.portLevelMtls && Object.keys(pa.spec.portLevelMtls).length > 0) {
      out.warnings.push(
        `PeerAuthentication/${nsOf(pa)}/${pa.metadata.name}: portLevelMtls is not enforced by ztunnel yet; the workload-level mode applies`,
      );
    }
    if (pa.spec.mtls?.mode === 'DISABLE') {
      out.warnings.push(
        `PeerAuthentication/${nsOf(pa)}/${pa.metadata.name}: mode DISABLE is treated as PERMISSIVE in ambient mode`,
      );
    }
  }
  const keysFor = (pod: ObjectOf<'Pod'>) => {
    const ns = nsOf(pod);
    const keys = selectorPolicies
      .filter(
        (p) =>
          (nsOf(p) === ns || nsOf(p) === o.rootNamespace) &&
          selectorMatches(p.spec.selector?.matchLabels, pod.metadata.labels),
      )
      .map((p) => `${nsOf(p)}/${p.metadata.name}`);
    if (mtlsModeFor(pod, objects.PeerAuthentication, o) === 'STRICT')
      keys.push(`${o.rootNamespace}/${STATIC_STRICT}`);
    return keys.sort();
  };
  return { ...out, keysFor };
}
