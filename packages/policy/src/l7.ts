// L7 authorization as a waypoint enforces Istio's AuthorizationPolicy — shared spec
// waypoint.md §4.1 (rule structure: any rule; in a rule any `from`, any `to`, all `when`),
// §4.2 (source fields), §4.3 (operation fields, path templates), §4.4 (`when` keys), §4.5
// (CUSTOM → DENY → ALLOW; `spec: {}` allows nothing; invalid values drop the whole rule in
// ALLOW policies and only the condition in DENY ones).
//
// Pure: the waypoint builds a RequestAttributes per request; the controller compiles every
// policy with the same code to report problems before they reach a proxy.
import { cidrContains, parseIp } from './ip.js';

export type L7Action = 'ALLOW' | 'DENY' | 'AUDIT' | 'CUSTOM';

export interface L7PolicySpec {
  action?: L7Action;
  provider?: { name: string };
  rules?: {
    from?: { source: Record<string, string[] | undefined> }[];
    to?: { operation: Record<string, string[] | undefined> }[];
    when?: { key: string; values?: string[]; notValues?: string[] }[];
  }[];
}

export interface RequestAttributes {
  /** Peer mTLS principal without `spiffe://` (`td/ns/x/sa/y`); undefined without mTLS. */
  principal?: string;
  sourceIp: string;
  /** Client IP from X-Forwarded-For (else the source IP). */
  remoteIp?: string;
  destinationIp: string;
  destinationPort: number;
  host: string;
  method: string;
  /** Path without the query string, normalised once by the proxy (normalizeRequestPath). */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Validated JWT: `iss/sub`, claims. */
  requestPrincipal?: string;
  claims?: Record<string, unknown>;
  sni?: string;
}

type Pred = (r: RequestAttributes) => boolean;

export interface CompiledL7Policy {
  name: string;
  action: L7Action;
  /** True when the policy matches the request. */
  matches: Pred;
  /** Problems found while compiling (reported by the controller and the waypoint). */
  problems: string[];
}

class InvalidValue extends Error {}

/**
 * Which traffic a policy is compiled for. `http`: requests at the waypoint's HTTP filters.
 * `tcp`: connections to a port the waypoint proxies as TCP — what Istio's network RBAC
 * filter enforces there: HTTP-only attributes (hosts, methods, paths, request principals,
 * headers, JWT claims) cannot be known, so an ALLOW rule using one matches nothing and a
 * DENY rule treats it as matching (more restrictive, never less).
 */
export type PolicyLayer = 'http' | 'tcp';

const HTTP_ONLY_FIELDS = new Set(['requestPrincipals', 'hosts', 'methods', 'paths']);

function httpOnlyWhen(key: string): boolean {
  return key.startsWith('request.');
}

/** An HTTP attribute in a rule compiled for TCP: ALLOW drops the rule, DENY ignores the condition. */
class HttpOnly extends InvalidValue {}

/** Istio's string forms: exact, `prefix*`, `*suffix`, `*` = present (non-empty). */
function valueMatcher(pattern: string, caseInsensitive = false): (v: string | undefined) => boolean {
  const norm = (s: string) => (caseInsensitive ? s.toLowerCase() : s);
  const p = norm(pattern);
  if (p === '*') return (v) => v !== undefined && v !== '';
  if (p.startsWith('*')) return (v) => v !== undefined && norm(v).endsWith(p.slice(1));
  if (p.endsWith('*')) return (v) => v !== undefined && norm(v).startsWith(p.slice(0, -1));
  return (v) => v !== undefined && norm(v) === p;
}

/** Path templates (`{*}` one segment, `{**}` the rest) or Istio's string forms. */
export function pathMatcher(pattern: string): (path: string) => boolean {
  if (pattern.includes('{')) {
    const segments = pattern.split('/');
    let re = '';
    for (const [i, seg] of segments.entries()) {
      if (i > 0) re += '/';
      if (seg === '{*}') re += '[^/]+';
      else if (seg === '{**}') {
        if (i !== segments.length - 1) throw new InvalidValue(`path template ${pattern}: {**} must be last`);
        re = re.endsWith('/') ? `${re.slice(0, -1)}(/.*)?` : `${re}.*`;
      } else if (/[{}*]/.test(seg))
        throw new InvalidValue(`path template ${pattern}: invalid segment ${seg}`);
      else re += seg.replace(/[.+?^$()|[\]\\]/g, '\\$&');
    }
    const rx = new RegExp(`^${re}$`);
    return (p) => rx.test(p);
  }
  const m = valueMatcher(pattern);
  return (p) => m(p);
}

function anyOf(values: string[] | undefined, make: (v: string) => Pred): Pred | undefined {
  if (!values || values.length === 0) return undefined;
  const preds = values.map(make);
  return (r) => preds.some((p) => p(r));
}

function ipPred(cidr: string, get: (r: RequestAttributes) => string | undefined): Pred {
  const [addr, len] = cidr.split('/');
  const bytes = parseIp(addr ?? '');
  if (!bytes) throw new InvalidValue(`invalid IP or CIDR ${cidr}`);
  const prefix = len === undefined ? bytes.length * 8 : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bytes.length * 8)
    throw new InvalidValue(`invalid CIDR ${cidr}`);
  return (r) => {
    const ip = parseIp(get(r) ?? '');
    return ip !== undefined && cidrContains(bytes, prefix, ip);
  };
}

function nsOfPrincipal(p: string | undefined): string | undefined {
  return p ? /\/ns\/([^/]+)\//.exec(p)?.[1] : undefined;
}

function headerValue(r: RequestAttributes, name: string): string | undefined {
  const v = r.headers[name.toLowerCase()];
  return Array.isArray(v) ? v.join(',') : v;
}

function claimValues(r: RequestAttributes, path: string[]): string[] {
  let cur: unknown = r.claims;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return [];
    cur = (cur as Record<string, unknown>)[k];
  }
  if (cur === undefined || cur === null) return [];
  if (Array.isArray(cur)) return cur.map(String);
  const s = String(cur);
  const last = path[path.length - 1];
  return last === 'scope' || last === 'permission' ? s.split(' ') : [s];
}

/** `when` key → how to read the request's value(s). Unknown keys throw (rule invalid). */
function whenGetter(key: string): (r: RequestAttributes) => string[] {
  const hdr = /^request\.headers\[(.+)\]$/.exec(key);
  if (hdr) return (r) => [headerValue(r, hdr[1]!)].filter((v): v is string => v !== undefined);
  const claims = /^request\.auth\.claims((\[[^\]]+\])+)$/.exec(key);
  if (claims) {
    const path = [...claims[1]!.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!);
    return (r) => claimValues(r, path);
  }
  const one = (f: (r: RequestAttributes) => string | undefined) => (r: RequestAttributes) => {
    const v = f(r);
    return v === undefined ? [] : [v];
  };
  switch (key) {
    case 'source.ip':
      return one((r) => r.sourceIp);
    case 'remote.ip':
      return one((r) => r.remoteIp ?? r.sourceIp);
    case 'source.namespace':
      return one((r) => nsOfPrincipal(r.principal));
    case 'source.serviceAccount':
      return one((r) =>
        r.principal ? /\/ns\/([^/]+)\/sa\/([^/]+)$/.exec(r.principal)?.slice(1).join('/') : undefined,
      );
    case 'source.trustDomain':
      return one((r) => r.principal?.split('/')[0]);
    case 'source.principal':
      return one((r) => r.principal);
    case 'request.auth.principal':
      return one((r) => r.requestPrincipal);
    case 'request.auth.audiences':
      return (r) => claimValues(r, ['aud']);
    case 'request.auth.presenter':
      return one((r) => r.claims?.azp as string | undefined);
    case 'destination.ip':
      return one((r) => r.destinationIp);
    case 'destination.port':
      return one((r) => String(r.destinationPort));
    case 'connection.sni':
      return one((r) => r.sni);
    default:
      throw new InvalidValue(`unknown condition key ${key}`);
  }
}

const SOURCE_FIELDS = new Set([
  'principals',
  'notPrincipals',
  'requestPrincipals',
  'notRequestPrincipals',
  'namespaces',
  'notNamespaces',
  'serviceAccounts',
  'notServiceAccounts',
  'ipBlocks',
  'notIpBlocks',
  'remoteIpBlocks',
  'notRemoteIpBlocks',
]);

function sourceField(field: string, v: string, policyNs: string): Pred {
  switch (field) {
    case 'principals': {
      const m = valueMatcher(v);
      return (r) => m(r.principal);
    }
    case 'requestPrincipals': {
      const m = valueMatcher(v);
      return (r) => m(r.requestPrincipal);
    }
    case 'namespaces': {
      const m = valueMatcher(v);
      return (r) => m(nsOfPrincipal(r.principal));
    }
    case 'serviceAccounts': {
      if (v.includes('*')) throw new InvalidValue(`serviceAccounts value ${v} cannot contain *`);
      const [ns, sa] = v.includes('/') ? v.split('/') : [policyNs, v];
      return (r) => r.principal?.endsWith(`/ns/${ns}/sa/${sa}`) === true;
    }
    case 'ipBlocks':
      return ipPred(v, (r) => r.sourceIp);
    case 'remoteIpBlocks':
      return ipPred(v, (r) => r.remoteIp ?? r.sourceIp);
    default:
      throw new InvalidValue(`unknown source field ${field}`);
  }
}

function operationField(field: string, v: string): Pred {
  switch (field) {
    case 'hosts': {
      const m = valueMatcher(v, true);
      return (r) => m(r.host);
    }
    case 'methods': {
      const m = valueMatcher(v);
      return (r) => m(r.method);
    }
    case 'paths': {
      // The path arrives normalised (path-normalization.ts), as the backend will see it.
      const m = pathMatcher(v);
      return (r) => m(r.path);
    }
    case 'ports': {
      if (!/^\d+$/.test(v) || Number(v) > 65535) throw new InvalidValue(`invalid port ${v}`);
      return (r) => r.destinationPort === Number(v);
    }
    default:
      throw new InvalidValue(`unknown operation field ${field}`);
  }
}

/**
 * AND of the fields of one `source`/`operation`; `notX` = none of the values. A field whose
 * value is invalid: ALLOW → the caller drops the rule; DENY/AUDIT → that field is ignored.
 */
function clause(
  fields: Record<string, string[] | undefined>,
  make: (field: string, v: string) => Pred,
  strict: boolean,
  problems: string[],
  where: string,
  layer: PolicyLayer,
): Pred {
  const preds: Pred[] = [];
  for (const [key, values] of Object.entries(fields)) {
    if (!values || values.length === 0) continue;
    const negative = key.startsWith('not') && key.length > 3;
    const field = negative ? key[3]!.toLowerCase() + key.slice(4) : key;
    try {
      if (layer === 'tcp' && HTTP_ONLY_FIELDS.has(field))
        throw new HttpOnly(`${key} cannot apply to TCP traffic`);
      const p = anyOf(values, (v) => make(field, v))!;
      preds.push(negative ? (r) => !p(r) : p);
    } catch (err) {
      if (!(err instanceof InvalidValue)) throw err;
      problems.push(
        `${where}.${key}: ${err.message}${err instanceof HttpOnly && !strict ? ' (treated as matching)' : ''}`,
      );
      if (strict) throw err;
    }
  }
  return (r) => preds.every((p) => p(r));
}

export function compileL7Policy(
  name: string,
  namespace: string,
  spec: L7PolicySpec,
  layer: PolicyLayer = 'http',
): CompiledL7Policy {
  const action = spec.action ?? 'ALLOW';
  const problems: string[] = [];
  const strict = action === 'ALLOW';
  if (action === 'CUSTOM')
    problems.push(
      `spec.action: CUSTOM (provider ${spec.provider?.name ?? '?'}) is not supported by waypoints: matching requests are denied`,
    );
  const rules: Pred[] = [];
  for (const [i, rule] of (spec.rules ?? []).entries()) {
    const where = `spec.rules[${i}]`;
    try {
      const froms = (rule.from ?? []).map((f, j) => {
        for (const k of Object.keys(f.source ?? {}))
          if (!SOURCE_FIELDS.has(k)) throw new InvalidValue(`unknown source field ${k}`);
        return clause(
          f.source ?? {},
          (field, v) => sourceField(field, v, namespace),
          strict,
          problems,
          `${where}.from[${j}].source`,
          layer,
        );
      });
      const tos = (rule.to ?? []).map((t, j) =>
        clause(t.operation ?? {}, operationField, strict, problems, `${where}.to[${j}].operation`, layer),
      );
      const whens: Pred[] = [];
      for (const [j, w] of (rule.when ?? []).entries()) {
        try {
          if (layer === 'tcp' && httpOnlyWhen(w.key))
            throw new HttpOnly(`condition ${w.key} cannot apply to TCP traffic`);
          const get = whenGetter(w.key);
          if (!w.values?.length && !w.notValues?.length)
            throw new InvalidValue(`condition ${w.key} needs values or notValues`);
          const pos = w.values?.map((v) =>
            w.key.endsWith('.ip')
              ? ipPred(v, (r) => get(r)[0])
              : (r: RequestAttributes) => get(r).some(valueMatcher(v)),
          );
          const neg = w.notValues?.map((v) =>
            w.key.endsWith('.ip')
              ? ipPred(v, (r) => get(r)[0])
              : (r: RequestAttributes) => get(r).some(valueMatcher(v)),
          );
          whens.push((r) => (!pos || pos.some((p) => p(r))) && !neg?.some((p) => p(r)));
        } catch (err) {
          if (!(err instanceof InvalidValue)) throw err;
          problems.push(
            `${where}.when[${j}]: ${err.message}${err instanceof HttpOnly && !strict ? ' (treated as matching)' : ''}`,
          );
          if (strict) throw err;
        }
      }
      rules.push(
        (r) =>
          (froms.length === 0 || froms.some((p) => p(r))) &&
          (tos.length === 0 || tos.some((p) => p(r))) &&
          whens.every((p) => p(r)),
      );
    } catch (err) {
      if (!(err instanceof InvalidValue)) throw err;
      if (!problems.some((p) => p.startsWith(where))) problems.push(`${where}: ${err.message}`);
      problems.push(`${where}: rule dropped (an ALLOW rule with an invalid value never matches)`);
    }
  }
  return { name: `${namespace}/${name}`, action, problems, matches: (r) => rules.some((p) => p(r)) };
}

export interface L7Decision {
  allowed: boolean;
  /** The policy that decided (`ns/name`), if any. */
  policy?: string;
  reason: string;
}

/** CUSTOM (unsupported: fail closed) → DENY → no ALLOW = allow → any ALLOW matches = allow → deny. */
export function evaluateL7(policies: readonly CompiledL7Policy[], r: RequestAttributes): L7Decision {
  for (const p of policies)
    if (p.action === 'CUSTOM' && p.matches(r))
      return {
        allowed: false,
        policy: p.name,
        reason: 'CUSTOM authorization is not supported (fail closed)',
      };
  for (const p of policies)
    if (p.action === 'DENY' && p.matches(r))
      return { allowed: false, policy: p.name, reason: 'denied by policy' };
  const allows = policies.filter((p) => p.action === 'ALLOW');
  if (allows.length === 0) return { allowed: true, reason: 'no ALLOW policy' };
  const hit = allows.find((p) => p.matches(r));
  return hit
    ? { allowed: true, policy: hit.name, reason: 'allowed by policy' }
    : { allowed: false, reason: 'no ALLOW policy matched' };
}
