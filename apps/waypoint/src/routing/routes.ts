// Envoy RouteConfiguration (as the controller translates VirtualService / HTTPRoute) → a
// compiled route table, and request matching with Envoy's semantics — shared spec
// waypoint.md §1.2 (path exact/prefix/regex with full-match regexes and `case_sensitive`,
// `path_separated_prefix`, header matchers joined with `,`, missing headers never match a
// value matcher unless `treat_missing_header_as_empty`, inverted presence matches absence,
// query parameters), §1.3 (weights: pick uniformly in [0, sum)), §1.4 (rewrites), §1.5
// (redirects), §1.6 (direct responses), §1.9 (faults from `envoy.filters.http.fault`).
//
// A resource that cannot be compiled (bad regex, no action) throws: the xDS client NACKs it
// by name and the last good table keeps serving.

import { compileRe2, type Re2 } from '@ambient/policy';
import { type envoy, HTTPFault } from '@ambient/proto';

export interface RequestView {
  method: string;
  /** :path as received (with the query string). */
  path: string;
  authority: string;
  scheme: string;
  /** Lower-case names; repeated headers joined with `,`. */
  headers: Record<string, string | undefined>;
}

export interface HeaderOps {
  add: { key: string; value: string; overwrite: boolean }[];
  remove: string[];
}

export interface WeightedTarget {
  cluster: string;
  weight: number;
  request: HeaderOps;
  response: HeaderOps;
}

export interface RetrySpec {
  on: Set<string>;
  numRetries: number;
  perTryTimeoutMs: number;
  statusCodes: Set<number>;
  previousHosts: boolean;
  hostSelectionAttempts: number;
  baseIntervalMs: number;
  maxIntervalMs: number;
}

export interface FaultSpec {
  delay?: { ms: number; numerator: number; denominator: number };
  abort?: { httpStatus?: number; grpcStatus?: number; numerator: number; denominator: number };
}

/** A route's CORS policy (spec §1.12). */
export interface CorsSpec {
  allowOrigin(origin: string): boolean;
  allowMethods: string;
  allowHeaders: string;
  exposeHeaders: string;
  maxAge: string;
  allowCredentials: boolean;
}

export type HashSpec =
  | { kind: 'header'; name: string }
  | { kind: 'cookie'; name: string; pattern: RegExp; ttlMs?: number; path?: string }
  | { kind: 'sourceIp' }
  | { kind: 'query'; name: string };

export type RouteAction =
  | {
      kind: 'forward';
      targets: WeightedTarget[];
      totalWeight: number;
      clusterNotFoundStatus: number;
      timeoutMs: number;
      retry?: RetrySpec;
      prefixRewrite?: string;
      regexRewrite?: { re: Re2; substitution: string };
      hostRewrite?: string;
      mirrors: { cluster: string; numerator: number; denominator: number }[];
      hash: HashSpec[];
      cors?: CorsSpec;
    }
  | {
      kind: 'redirect';
      status: number;
      scheme?: string;
      host?: string;
      port?: number;
      path?: string;
      prefixRewrite?: string;
      stripQuery: boolean;
    }
  | { kind: 'direct'; status: number; body?: Buffer };

export interface CompiledRoute {
  name: string;
  matches(req: RequestView): boolean;
  /** The literal prefix/path matched (for `prefix_rewrite`). */
  matchedPrefix?: { value: string; caseSensitive: boolean };
  action: RouteAction;
  request: HeaderOps;
  response: HeaderOps;
  fault?: FaultSpec;
}

export interface RouteTable {
  name: string;
  routes: CompiledRoute[];
}

const DENOMINATORS = [100, 10_000, 1_000_000];

function ms(
  d: { seconds?: number | Long | null; nanos?: number | null } | null | undefined,
): number | undefined {
  if (!d) return undefined;
  return Number(d.seconds ?? 0) * 1000 + (d.nanos ?? 0) / 1e6;
}
type Long = { toNumber(): number };

/** Envoy regexes are RE2 (linear time) and must match the whole value. */
function fullRegex(pattern: string): { test(v: string): boolean } {
  const re = compileRe2(pattern);
  return { test: (v) => re.matches(v) };
}

function stringMatcher(m: envoy.type.matcher.v3.StringMatcher): (v: string) => boolean {
  const ic = m.ignoreCase;
  const norm = (s: string) => (ic ? s.toLowerCase() : s);
  switch (m.matchPattern) {
    case 'exact': {
      const e = norm(m.exact ?? '');
      return (v) => norm(v) === e;
    }
    case 'prefix': {
      const p = norm(m.prefix ?? '');
      return (v) => norm(v).startsWith(p);
    }
    case 'suffix': {
      const s = norm(m.suffix ?? '');
      return (v) => norm(v).endsWith(s);
    }
    case 'contains': {
      const c = norm(m.contains ?? '');
      return (v) => norm(v).includes(c);
    }
    case 'safeRegex': {
      const re = fullRegex(m.safeRegex!.regex);
      return (v) => re.test(v);
    }
    default:
      throw new Error('string matcher without a pattern');
  }
}

function headerValue(req: RequestView, name: string): string | undefined {
  if (name === ':method') return req.method;
  if (name === ':authority' || name === 'host') return req.authority;
  if (name === ':path') return req.path;
  if (name === ':scheme') return req.scheme;
  return req.headers[name];
}

function headerMatcher(h: envoy.config.route.v3.HeaderMatcher): (req: RequestView) => boolean {
  const name = h.name.toLowerCase();
  let test: (v: string) => boolean;
  let presence = false;
  switch (h.headerMatchSpecifier) {
    case 'exactMatch':
      test = (v) => v === (h.exactMatch ?? '');
      break;
    case 'prefixMatch':
      test = (v) => v.startsWith(h.prefixMatch ?? '');
      break;
    case 'suffixMatch':
      test = (v) => v.endsWith(h.suffixMatch ?? '');
      break;
    case 'containsMatch':
      test = (v) => v.includes(h.containsMatch ?? '');
      break;
    case 'safeRegexMatch': {
      const re = fullRegex(h.safeRegexMatch!.regex);
      test = (v) => re.test(v);
      break;
    }
    case 'stringMatch':
      test = stringMatcher(h.stringMatch!);
      break;
    default:
      presence = true;
      test = () => true;
  }
  const invert = h.invertMatch;
  if (presence) {
    const want = h.presentMatch !== false;
    return (req) => ((headerValue(req, name) !== undefined) === want) !== invert;
  }
  return (req) => {
    let v = headerValue(req, name);
    if (v === undefined) {
      if (!h.treatMissingHeaderAsEmpty) return false;
      v = '';
    }
    return test(v) !== invert;
  };
}

function queryMatcher(q: envoy.config.route.v3.QueryParameterMatcher): (params: URLSearchParams) => boolean {
  if (q.queryParameterMatchSpecifier === 'stringMatch') {
    const t = stringMatcher(q.stringMatch!);
    return (p) => {
      const v = p.get(q.name);
      return v !== null && t(v);
    };
  }
  return (p) => p.has(q.name);
}

function pathOf(path: string): string {
  const i = path.search(/[?#]/);
  return i < 0 ? path : path.slice(0, i);
}

function compileMatch(m: envoy.config.route.v3.RouteMatch): {
  test: (req: RequestView) => boolean;
  prefix?: { value: string; caseSensitive: boolean };
} {
  const cs = m.caseSensitive?.value !== false;
  const norm = (s: string) => (cs ? s : s.toLowerCase());
  let pathTest: (p: string) => boolean;
  let prefix: { value: string; caseSensitive: boolean } | undefined;
  switch (m.pathSpecifier) {
    case 'path': {
      const want = norm(m.path ?? '');
      pathTest = (p) => norm(p) === want;
      prefix = { value: m.path ?? '', caseSensitive: cs };
      break;
    }
    case 'safeRegex': {
      const re = fullRegex(m.safeRegex!.regex);
      pathTest = (p) => re.test(p);
      break;
    }
    case 'pathSeparatedPrefix': {
      const want = norm(m.pathSeparatedPrefix ?? '');
      pathTest = (p) => {
        const n = norm(p);
        return n === want || n.startsWith(`${want}/`);
      };
      prefix = { value: m.pathSeparatedPrefix ?? '', caseSensitive: cs };
      break;
    }
    default: {
      const want = norm(m.prefix ?? '/');
      pathTest = (p) => norm(p).startsWith(want);
      prefix = { value: m.prefix ?? '/', caseSensitive: cs };
    }
  }
  const headers = m.headers.map(headerMatcher);
  const queries = m.queryParameters.map(queryMatcher);
  const fraction = m.runtimeFraction?.defaultValue;
  return {
    test: (req) => {
      if (!pathTest(pathOf(req.path))) return false;
      for (const h of headers) if (!h(req)) return false;
      if (queries.length) {
        const q = req.path.indexOf('?');
        const params = new URLSearchParams(q < 0 ? '' : req.path.slice(q + 1));
        for (const t of queries) if (!t(params)) return false;
      }
      if (fraction && !draw(fraction.numerator, DENOMINATORS[fraction.denominator] ?? 100)) return false;
      return true;
    },
    ...(prefix ? { prefix } : {}),
  };
}

/** True with probability numerator/denominator. */
export function draw(numerator: number, denominator: number, random = Math.random): boolean {
  if (numerator <= 0) return false;
  if (numerator >= denominator) return true;
  return Math.floor(random() * denominator) < numerator;
}

function ops(add: readonly envoy.config.core.v3.HeaderValueOption[], remove: readonly string[]): HeaderOps {
  return {
    add: add
      .filter((o) => o.header && !o.header.key.startsWith(':'))
      .map((o) => ({
        key: o.header!.key.toLowerCase(),
        value: o.header!.value,
        // append_action OVERWRITE_IF_EXISTS_OR_ADD, or the deprecated `append: false`.
        overwrite: o.appendAction === 2 || o.append?.value === false,
      })),
    remove: remove.map((r) => r.toLowerCase()),
  };
}

function retrySpec(r: envoy.config.route.v3.RetryPolicy): RetrySpec {
  const base = ms(r.retryBackOff?.baseInterval) ?? 25;
  return {
    on: new Set(
      r.retryOn
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
    numRetries: r.numRetries?.value ?? 1,
    perTryTimeoutMs: ms(r.perTryTimeout) ?? 0,
    statusCodes: new Set(r.retriableStatusCodes),
    previousHosts: r.retryHostPredicate.some((p) => p.name === 'envoy.retry_host_predicates.previous_hosts'),
    hostSelectionAttempts: Math.max(1, Number(r.hostSelectionRetryMaxAttempts) || 1),
    baseIntervalMs: Math.max(1, base),
    maxIntervalMs: ms(r.retryBackOff?.maxInterval) ?? base * 10,
  };
}

function faultSpec(route: envoy.config.route.v3.Route): FaultSpec | undefined {
  const any = route.typedPerFilterConfig['envoy.filters.http.fault'];
  if (!any) return undefined;
  const f = HTTPFault.decode(any.value);
  const out: FaultSpec = {};
  if (f.delay?.fixedDelay) {
    out.delay = {
      ms: ms(f.delay.fixedDelay) ?? 0,
      numerator: f.delay.percentage?.numerator ?? 0,
      denominator: DENOMINATORS[f.delay.percentage?.denominator ?? 0] ?? 100,
    };
  }
  if (f.abort) {
    out.abort = {
      ...(f.abort.errorType === 'grpcStatus'
        ? { grpcStatus: f.abort.grpcStatus }
        : { httpStatus: f.abort.httpStatus }),
      numerator: f.abort.percentage?.numerator ?? 0,
      denominator: DENOMINATORS[f.abort.percentage?.denominator ?? 0] ?? 100,
    };
  }
  return out.delay || out.abort ? out : undefined;
}

function hashSpecs(hp: readonly envoy.config.route.v3.RouteAction.HashPolicy[]): HashSpec[] {
  const out: HashSpec[] = [];
  for (const h of hp) {
    if (h.header) out.push({ kind: 'header', name: h.header.headerName.toLowerCase() });
    else if (h.cookie) {
      const ttl = ms(h.cookie.ttl);
      out.push({
        kind: 'cookie',
        name: h.cookie.name,
        // The cookie's value in a Cookie header, compiled once per route.
        pattern: new RegExp(`(?:^|;\\s*)${h.cookie.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^;]*)`),
        ...(ttl !== undefined ? { ttlMs: ttl } : {}),
        ...(h.cookie.path ? { path: h.cookie.path } : {}),
      });
    } else if (h.connectionProperties?.sourceIp) out.push({ kind: 'sourceIp' });
    else if (h.queryParameter) out.push({ kind: 'query', name: h.queryParameter.name });
  }
  return out;
}

function corsSpec(c: envoy.config.route.v3.CorsPolicy): CorsSpec {
  const matchers = c.allowOriginStringMatch.map(stringMatcher);
  // An exact "*" allows every origin (the matching origin is still echoed, never a literal *).
  const any = c.allowOriginStringMatch.some((m) => m.matchPattern === 'exact' && m.exact === '*');
  return {
    allowOrigin: (o) => any || matchers.some((m) => m(o)),
    allowMethods: c.allowMethods,
    allowHeaders: c.allowHeaders,
    exposeHeaders: c.exposeHeaders,
    maxAge: c.maxAge,
    allowCredentials: c.allowCredentials?.value === true,
  };
}

const NOT_FOUND_STATUS = [503, 404, 500];
const REDIRECT_STATUS = [301, 302, 303, 307, 308];

export function compileRouteConfiguration(rc: envoy.config.route.v3.RouteConfiguration): RouteTable {
  const routes: CompiledRoute[] = [];
  for (const vh of rc.virtualHosts) {
    for (const [i, r] of vh.routes.entries()) {
      const name = r.name || `${vh.name}#${i}`;
      try {
        if (!r.match) throw new Error('route without match');
        const m = compileMatch(r.match);
        let action: RouteAction;
        if (r.action === 'route' && r.route) {
          const ra = r.route;
          const targets: WeightedTarget[] =
            ra.clusterSpecifier === 'weightedClusters'
              ? ra.weightedClusters!.clusters.map((c) => ({
                  cluster: c.name,
                  weight: c.weight?.value ?? 0,
                  request: ops(c.requestHeadersToAdd, c.requestHeadersToRemove),
                  response: ops(c.responseHeadersToAdd, c.responseHeadersToRemove),
                }))
              : [{ cluster: ra.cluster ?? '', weight: 1, request: ops([], []), response: ops([], []) }];
          const totalWeight = targets.reduce((s, t) => s + t.weight, 0);
          if (totalWeight <= 0) throw new Error('weighted clusters sum to 0');
          action = {
            kind: 'forward',
            targets,
            totalWeight,
            clusterNotFoundStatus: NOT_FOUND_STATUS[ra.clusterNotFoundResponseCode] ?? 503,
            // Envoy's default route timeout is 15 s; Istio always sends one (0 = disabled).
            timeoutMs: ms(ra.timeout) ?? 15_000,
            ...(ra.retryPolicy
              ? { retry: retrySpec(ra.retryPolicy) }
              : vh.retryPolicy
                ? { retry: retrySpec(vh.retryPolicy) }
                : {}),
            ...(ra.prefixRewrite ? { prefixRewrite: ra.prefixRewrite } : {}),
            ...(ra.regexRewrite?.pattern
              ? {
                  regexRewrite: {
                    re: compileRe2(ra.regexRewrite.pattern.regex),
                    substitution: ra.regexRewrite.substitution,
                  },
                }
              : {}),
            ...(ra.hostRewriteLiteral ? { hostRewrite: ra.hostRewriteLiteral } : {}),
            mirrors: ra.requestMirrorPolicies.map((mp) => ({
              cluster: mp.cluster,
              numerator: mp.runtimeFraction?.defaultValue?.numerator ?? 100,
              denominator: mp.runtimeFraction?.defaultValue
                ? (DENOMINATORS[mp.runtimeFraction.defaultValue.denominator] ?? 100)
                : 100,
            })),
            hash: hashSpecs(ra.hashPolicy),
            ...(ra.cors ? { cors: corsSpec(ra.cors) } : {}),
          };
        } else if (r.action === 'redirect' && r.redirect) {
          const rd = r.redirect;
          action = {
            kind: 'redirect',
            status: REDIRECT_STATUS[rd.responseCode] ?? 301,
            ...(rd.schemeRedirect
              ? { scheme: rd.schemeRedirect }
              : rd.httpsRedirect
                ? { scheme: 'https' }
                : {}),
            ...(rd.hostRedirect ? { host: rd.hostRedirect } : {}),
            ...(rd.portRedirect ? { port: rd.portRedirect } : {}),
            ...(rd.pathRedirect ? { path: rd.pathRedirect } : {}),
            ...(rd.prefixRewrite ? { prefixRewrite: rd.prefixRewrite } : {}),
            stripQuery: rd.stripQuery,
          };
        } else if (r.action === 'directResponse' && r.directResponse) {
          const b = r.directResponse.body;
          const body =
            b?.specifier === 'inlineString'
              ? Buffer.from(b.inlineString ?? '')
              : b?.specifier === 'inlineBytes'
                ? Buffer.from(b.inlineBytes ?? new Uint8Array())
                : undefined;
          action = { kind: 'direct', status: r.directResponse.status, ...(body ? { body } : {}) };
        } else throw new Error('route has no action (route, redirect or direct_response)');
        const fault = faultSpec(r);
        routes.push({
          name,
          matches: m.test,
          ...(m.prefix ? { matchedPrefix: m.prefix } : {}),
          action,
          request: ops(
            [...r.requestHeadersToAdd, ...vh.requestHeadersToAdd, ...rc.requestHeadersToAdd],
            [...r.requestHeadersToRemove, ...vh.requestHeadersToRemove, ...rc.requestHeadersToRemove],
          ),
          response: ops(
            [...r.responseHeadersToAdd, ...vh.responseHeadersToAdd, ...rc.responseHeadersToAdd],
            [...r.responseHeadersToRemove, ...vh.responseHeadersToRemove, ...rc.responseHeadersToRemove],
          ),
          ...(fault ? { fault } : {}),
        });
      } catch (err) {
        throw new Error(`route ${name}: ${(err as Error).message}`);
      }
    }
  }
  return { name: rc.name, routes };
}

export function selectRoute(table: RouteTable, req: RequestView): CompiledRoute | undefined {
  for (const r of table.routes) if (r.matches(req)) return r;
  return undefined;
}

/** Uniform in [0, total) over the weights (zeros were dropped by the controller). */
export function pickTarget(
  targets: readonly WeightedTarget[],
  total: number,
  random = Math.random,
): WeightedTarget {
  let x = Math.floor(random() * total);
  for (const t of targets) {
    if (x < t.weight) return t;
    x -= t.weight;
  }
  return targets[targets.length - 1]!;
}

/** The upstream path after `prefix_rewrite` / `regex_rewrite` (query string kept). */
export function rewritePath(route: CompiledRoute, path: string): string {
  if (route.action.kind !== 'forward') return path;
  const q = path.search(/[?#]/);
  const p = q < 0 ? path : path.slice(0, q);
  const rest = q < 0 ? '' : path.slice(q);
  const a = route.action;
  if (a.regexRewrite) return a.regexRewrite.re.replaceAll(p, a.regexRewrite.substitution) + rest;
  if (a.prefixRewrite !== undefined && route.matchedPrefix) {
    const n = route.matchedPrefix.value.length;
    return a.prefixRewrite + p.slice(n) + rest;
  }
  return path;
}

/** Applies header operations to a plain header object in place. */
export function applyHeaderOps(headers: Record<string, string | string[] | undefined>, o: HeaderOps): void {
  for (const r of o.remove) delete headers[r];
  for (const { key, value, overwrite } of o.add) {
    const cur = headers[key];
    if (overwrite || cur === undefined) headers[key] = value;
    else headers[key] = Array.isArray(cur) ? [...cur, value] : [cur, value];
  }
}
