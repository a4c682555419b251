// VirtualService and HTTPRoute → Envoy routes for one service port on a waypoint — shared
// spec waypoint.md §1 (VirtualService: first match wins, one route per match, catch-all stops
// translation, weights as weight/sum with zeros dropped, timeout 0 = disabled, Istio's default
// retry policy, fault percentages, mirror percentage absent = 100 %, header operations,
// rewrite, redirect, direct response), §3.4 (HTTPRoute: one route per match, precedence
// sorting, backendRef weight default 1, total 0 → 500, retry/timeouts).

import type { ObjectOf, StringMatch } from '@ambient/model';
import { re2Problem } from '@ambient/policy';
import { type envoy, HTTPFault, type Init } from '@ambient/proto';
import { nsOf } from '../model-view.js';
import { type ClusterRef, durationOf } from './clusters.js';
import type { BoundService, ServiceIndex } from './services.js';

type Route = Init<envoy.config.route.v3.Route>;
type RouteAction = Init<envoy.config.route.v3.RouteAction>;
type HeaderMatcher = Init<envoy.config.route.v3.HeaderMatcher>;
type StringMatcher = Init<envoy.type.matcher.v3.StringMatcher>;
type HeaderOption = Init<envoy.config.core.v3.HeaderValueOption>;
type RetryPolicy = Init<envoy.config.route.v3.RetryPolicy>;

export const FAULT_FILTER = 'envoy.filters.http.fault';
const APPEND = 0;
const OVERWRITE = 2;
const MILLION = 2;
const HUNDRED = 0;

/** Istio's mesh default retry policy (mesh config `defaultHttpRetryPolicy`). */
export function defaultRetryPolicy(consistentHash: boolean): RetryPolicy {
  return {
    retryOn: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes',
    numRetries: { value: 2 },
    ...(consistentHash
      ? {}
      : { retryHostPredicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }] }),
    hostSelectionRetryMaxAttempts: 5,
  };
}

export interface RouteContext {
  idx: ServiceIndex;
  bound: BoundService;
  port: number;
  /** Registers a destination; returns the cluster name. */
  cluster(ref: Omit<ClusterRef, 'name'>): string;
  /** Whether the destination cluster uses consistent hashing, and its hash policy. */
  hashPolicy(ref: Omit<ClusterRef, 'name'>): Init<envoy.config.route.v3.RouteAction.HashPolicy>[] | undefined;
  warn(msg: string): void;
}

function stringMatcher(m: StringMatch, ignoreCase = false): StringMatcher | undefined {
  if (m.exact !== undefined) return { exact: m.exact, ignoreCase };
  if (m.prefix !== undefined) return { prefix: m.prefix, ignoreCase };
  if (m.regex !== undefined) return { safeRegex: { regex: m.regex } };
  return undefined;
}

function headerMatcher(name: string, m: StringMatch, invert: boolean): HeaderMatcher {
  const sm = m.regex === '*' ? undefined : stringMatcher(m);
  if (!sm) return { name, presentMatch: true, invertMatch: invert };
  return { name, stringMatch: sm, invertMatch: invert, treatMissingHeaderAsEmpty: invert };
}

function headerOps(ops: { set?: Record<string, string>; add?: Record<string, string> } | undefined): {
  options: HeaderOption[];
  authority?: string;
} {
  const options: HeaderOption[] = [];
  let authority: string | undefined;
  const sorted = (r: Record<string, string> | undefined) =>
    Object.entries(r ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [k, v] of sorted(ops?.add)) {
    const key = k.toLowerCase();
    if (key === ':authority' || key === 'host') authority = v;
    else if (!key.startsWith(':')) options.push({ header: { key, value: v }, appendAction: APPEND });
  }
  for (const [k, v] of sorted(ops?.set)) {
    const key = k.toLowerCase();
    if (key === ':authority' || key === 'host') authority = v;
    else if (!key.startsWith(':')) options.push({ header: { key, value: v }, appendAction: OVERWRITE });
  }
  return authority !== undefined ? { options, authority } : { options };
}

function percentage(p: { value: number } | undefined, legacy?: number) {
  if (p) return { numerator: Math.round(p.value * 10000), denominator: MILLION };
  if (legacy !== undefined) return { numerator: legacy, denominator: HUNDRED };
  return undefined;
}

/** `retryOn` as Istio splits it: integers become retriable status codes. */
export function retryPolicyFrom(
  r: NonNullable<NonNullable<ObjectOf<'VirtualService'>['spec']['http']>[number]['retries']>,
  consistentHash: boolean,
): RetryPolicy | undefined {
  if (r.attempts === 0) return undefined;
  const base = defaultRetryPolicy(consistentHash);
  const policy: RetryPolicy = { ...base, numRetries: { value: r.attempts ?? 2 } };
  if (r.retryOn) {
    const on: string[] = [];
    const codes: number[] = [];
    for (const part of r.retryOn.split(',').map((s) => s.trim())) {
      if (/^\d+$/.test(part)) codes.push(Number(part));
      else if (part) on.push(part);
    }
    if (codes.length > 0 && !on.includes('retriable-status-codes')) on.push('retriable-status-codes');
    policy.retryOn = on.join(',');
    policy.retriableStatusCodes = codes;
  }
  if (r.perTryTimeout) policy.perTryTimeout = durationOf(r.perTryTimeout);
  return policy;
}

type VsHttp = NonNullable<ObjectOf<'VirtualService'>['spec']['http']>[number];
type VsMatch = NonNullable<VsHttp['match']>[number];

/** The VirtualServices for a service on its waypoint: hosts match, in the service's or waypoint's namespace. */
export function virtualServicesFor(ctx: RouteContext): ObjectOf<'VirtualService'>[] {
  const { idx, bound } = ctx;
  const nss = new Set([nsOf(bound.svc), bound.waypoint.namespace]);
  return (idx.objects.VirtualService ?? [])
    .filter((vs) => nss.has(nsOf(vs)))
    .filter((vs) => !vs.spec.gateways || vs.spec.gateways.length === 0 || vs.spec.gateways.includes('mesh'))
    .filter((vs) => vs.spec.hosts.some((h) => idx.hostMatches(h, nsOf(vs), bound.host)))
    .sort(
      (a, b) =>
        (a.metadata.creationTimestamp ?? '').localeCompare(b.metadata.creationTimestamp ?? '') ||
        `${nsOf(a)}/${a.metadata.name}`.localeCompare(`${nsOf(b)}/${b.metadata.name}`),
    );
}

/**
 * Every regex an object configures, checked with RE2's parser (what Envoy runs and istiod's
 * validation accepts): one that RE2 refuses (a backreference, lookaround, bad syntax) makes the
 * whole object rejected, with a warning naming the field — as istiod's webhook rejects it.
 */
function rejectsRegexes(
  ctx: RouteContext,
  where: string,
  kind: string,
  spec: unknown,
  isRegex: (key: string, parent: Record<string, unknown>) => boolean,
): boolean {
  const problems: string[] = [];
  const walk = (v: unknown, path: string): void => {
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, `${path}[${i}]`);
    } else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (typeof x === 'string' && isRegex(k, v as Record<string, unknown>)) {
          // VirtualService `match` is a regex only under uriRegexRewrite.
          if (k === 'match' && !path.endsWith('uriRegexRewrite')) continue;
          const problem = re2Problem(x);
          if (problem) problems.push(`${path}.${k}: ${problem}`);
        } else walk(x, `${path}.${k}`);
      }
  };
  walk(spec, 'spec');
  for (const p of problems) ctx.warn(`${where}: ${p}; the ${kind} is rejected`);
  return problems.length > 0;
}

/** Routes of VirtualServices, in order; `undefined` when none applies (the default route is used). */
export function virtualServiceRoutes(ctx: RouteContext): Route[] | undefined {
  const vss = virtualServicesFor(ctx);
  if (vss.length === 0) return undefined;
  const routes: Route[] = [];
  let applied = 0;
  for (const vs of vss) {
    const where = `VirtualService/${nsOf(vs)}/${vs.metadata.name}`;
    if (rejectsRegexes(ctx, where, 'VirtualService', vs.spec, (key) => key === 'regex' || key === 'match'))
      continue;
    applied++;
    if (vs.spec.tcp || vs.spec.tls)
      ctx.warn(`${where}: spec.tcp/spec.tls are not applied by waypoints (HTTP only)`);
    for (const [i, rule] of (vs.spec.http ?? []).entries()) {
      const field = `spec.http[${i}]`;
      const problem = validateRule(rule);
      if (problem) {
        ctx.warn(`${where}: ${field}: ${problem}; rule skipped`);
        continue;
      }
      if (rule.corsPolicy?.unmatchedPreflights === 'IGNORE')
        ctx.warn(
          `${where}: ${field}.corsPolicy.unmatchedPreflights: IGNORE is not supported (FORWARD is used)`,
        );
      const matches: (VsMatch | undefined)[] = rule.match?.length ? rule.match : [undefined];
      let catchAll = false;
      for (const m of matches) {
        if (m?.sourceLabels) {
          ctx.warn(`${where}: ${field}.match: sourceLabels is dropped on waypoints (Istio issue 51565)`);
          continue;
        }
        if (m?.port !== undefined && m.port !== ctx.port) continue;
        if (m?.gateways && m.gateways.length > 0 && !m.gateways.includes('mesh')) continue;
        const route = vsRoute(ctx, vs, rule, m, where, field);
        if (!route) continue;
        routes.push(route);
        if (isCatchAll(route)) {
          catchAll = true;
          break;
        }
      }
      if (catchAll) return routes;
    }
  }
  // Every VirtualService rejected: as if there were none (the default route).
  return applied === 0 ? undefined : routes;
}

function isCatchAll(r: Route): boolean {
  const m = r.match!;
  return (
    (m.prefix === '/' || (m.prefix === undefined && m.path === undefined && m.safeRegex === undefined)) &&
    !(m.headers && m.headers.length > 0) &&
    !(m.queryParameters && m.queryParameters.length > 0)
  );
}

function validateRule(rule: VsHttp): string | undefined {
  const actions = [
    rule.route?.length ? 'route' : '',
    rule.redirect ? 'redirect' : '',
    rule.directResponse ? 'directResponse' : '',
    rule.delegate ? 'delegate' : '',
  ].filter(Boolean);
  if (actions.length !== 1)
    return `exactly one of route, redirect, directResponse or delegate is required (found ${actions.join(', ') || 'none'})`;
  if (rule.delegate) return 'delegate is not supported on waypoints';
  if ((rule.redirect || rule.directResponse) && (rule.fault || rule.rewrite))
    return 'fault and rewrite cannot be combined with redirect or directResponse';
  const dests = rule.route ?? [];
  if (dests.length > 1 && dests.reduce((s, d) => s + (d.weight ?? 0), 0) === 0)
    return 'route weights sum to 0 (at least one destination needs a weight > 0)';
  if (rule.retries?.attempts === 0 && (rule.retries.perTryTimeout || rule.retries.retryOn))
    return 'retries.attempts 0 disables retries; perTryTimeout/retryOn must not be set with it';
  if (rule.fault?.delay?.exponentialDelay) return 'fault.delay.exponentialDelay is not supported';
  if (rule.fault?.abort?.http2Error) return 'fault.abort.http2Error is not supported';
  if (rule.fault?.abort && rule.fault.abort.httpStatus === undefined && !rule.fault.abort.grpcStatus)
    return 'fault.abort needs httpStatus or grpcStatus';
  if (rule.mirror && rule.mirrors) return 'mirror and mirrors cannot both be set';
  if (rule.redirect?.redirectCode && ![301, 302, 303, 307, 308].includes(rule.redirect.redirectCode))
    return `redirect.redirectCode ${rule.redirect.redirectCode} is not one of 301, 302, 303, 307, 308`;
  if (rule.rewrite?.uri && rule.rewrite.uriRegexRewrite)
    return 'rewrite.uri and rewrite.uriRegexRewrite are exclusive';
  return undefined;
}

function vsMatch(m: VsMatch | undefined): Init<envoy.config.route.v3.RouteMatch> {
  const out: Init<envoy.config.route.v3.RouteMatch> = {};
  const uri = m?.uri;
  if (uri?.exact !== undefined) out.path = uri.exact;
  else if (uri?.regex !== undefined) out.safeRegex = { regex: uri.regex };
  else out.prefix = uri?.prefix ?? '/';
  if (m?.ignoreUriCase) out.caseSensitive = { value: false };
  const headers: HeaderMatcher[] = [];
  for (const [pseudo, sm] of [
    [':scheme', m?.scheme],
    [':method', m?.method],
    [':authority', m?.authority],
  ] as const)
    if (sm) headers.push(headerMatcher(pseudo, sm, false));
  const skip = new Set(['uri', 'scheme', 'method', 'authority']);
  for (const [k, v] of Object.entries(m?.headers ?? {}))
    if (!skip.has(k)) headers.push(headerMatcher(k.toLowerCase(), v, false));
  for (const [k, v] of Object.entries(m?.withoutHeaders ?? {}))
    if (!skip.has(k)) headers.push(headerMatcher(k.toLowerCase(), v, true));
  if (headers.length) out.headers = headers;
  const qps = Object.entries(m?.queryParams ?? {}).map(([name, sm]) => {
    const s = stringMatcher(sm);
    return s ? { name, stringMatch: s } : { name, presentMatch: true };
  });
  if (qps.length) out.queryParameters = qps;
  return out;
}

function vsRoute(
  ctx: RouteContext,
  vs: ObjectOf<'VirtualService'>,
  rule: VsHttp,
  m: VsMatch | undefined,
  where: string,
  field: string,
): Route | undefined {
  const ns = nsOf(vs);
  const route: Route = {
    name: [rule.name, m?.name].filter(Boolean).join('.') || `${where}#${field}`,
    match: vsMatch(m),
  };
  const reqOps = headerOps(rule.headers?.request);
  const resOps = headerOps(rule.headers?.response);
  if (reqOps.options.length) route.requestHeadersToAdd = reqOps.options;
  if (rule.headers?.request?.remove?.length)
    route.requestHeadersToRemove = rule.headers.request.remove.map((h) => h.toLowerCase());
  if (resOps.options.length) route.responseHeadersToAdd = resOps.options;
  if (rule.headers?.response?.remove?.length)
    route.responseHeadersToRemove = rule.headers.response.remove.map((h) => h.toLowerCase());

  if (rule.directResponse) {
    const body = rule.directResponse.body;
    route.directResponse = {
      status: rule.directResponse.status,
      ...(body?.string !== undefined ? { body: { inlineString: body.string } } : {}),
      ...(body?.bytes !== undefined ? { body: { inlineBytes: Buffer.from(body.bytes, 'base64') } } : {}),
    };
    return route;
  }
  if (rule.redirect) {
    const r = rule.redirect;
    const codes: Record<number, number> = { 301: 0, 302: 1, 303: 2, 307: 3, 308: 4 };
    route.redirect = {
      ...(r.uri !== undefined ? { pathRedirect: r.uri } : {}),
      ...(r.authority !== undefined ? { hostRedirect: r.authority } : {}),
      ...(r.scheme !== undefined ? { schemeRedirect: r.scheme } : {}),
      ...(r.port !== undefined ? { portRedirect: r.port } : {}),
      ...(r.derivePort === 'FROM_REQUEST_PORT' ? { portRedirect: ctx.port } : {}),
      responseCode: codes[r.redirectCode ?? 301] ?? 0,
    };
    return route;
  }

  const dests = (rule.route ?? []).filter((d, _i, all) => all.length === 1 || (d.weight ?? 0) > 0);
  const refs: { name: string; d: (typeof dests)[number]; ref: Omit<ClusterRef, 'name'> }[] = [];
  for (const d of dests) {
    const svc = ctx.idx.resolve(d.destination.host, ns);
    if (!svc) {
      ctx.warn(`${where}: ${field}.route: destination host ${d.destination.host} is not a known service`);
      return undefined;
    }
    const host = ctx.idx.fqdn(d.destination.host, ns);
    const port =
      d.destination.port?.number ??
      (host === ctx.bound.host
        ? ctx.port
        : svc.spec.ports.length === 1
          ? svc.spec.ports[0]!.port
          : undefined);
    if (port === undefined) {
      ctx.warn(
        `${where}: ${field}.route: destination ${host} has several ports; destination.port is required`,
      );
      return undefined;
    }
    const ref = { svc, host, port, ...(d.destination.subset ? { subset: d.destination.subset } : {}) };
    refs.push({ name: ctx.cluster(ref), d, ref });
  }
  const action: RouteAction = {};
  if (refs.length === 1) action.cluster = refs[0]!.name;
  else
    action.weightedClusters = {
      clusters: refs.map(({ name, d }) => {
        const rq = headerOps(d.headers?.request);
        const rs = headerOps(d.headers?.response);
        return {
          name,
          weight: { value: d.weight ?? 0 },
          ...(rq.options.length ? { requestHeadersToAdd: rq.options } : {}),
          ...(rs.options.length ? { responseHeadersToAdd: rs.options } : {}),
          ...(d.headers?.request?.remove?.length ? { requestHeadersToRemove: d.headers.request.remove } : {}),
          ...(d.headers?.response?.remove?.length
            ? { responseHeadersToRemove: d.headers.response.remove }
            : {}),
        };
      }),
    };
  if (refs.length === 1) {
    // A single destination's header operations apply after the route's (they override).
    const d = refs[0]!.d;
    const rq = headerOps(d.headers?.request);
    const rs = headerOps(d.headers?.response);
    if (rq.options.length) route.requestHeadersToAdd = [...(route.requestHeadersToAdd ?? []), ...rq.options];
    if (rs.options.length)
      route.responseHeadersToAdd = [...(route.responseHeadersToAdd ?? []), ...rs.options];
  }
  const hash = ctx.hashPolicy(refs[0]!.ref);
  if (hash) action.hashPolicy = hash;
  action.timeout = durationOf(rule.timeout ?? '0s');
  const retry = rule.retries
    ? retryPolicyFrom(rule.retries, hash !== undefined)
    : defaultRetryPolicy(hash !== undefined);
  if (retry) action.retryPolicy = retry;
  if (rule.rewrite?.uri !== undefined) action.prefixRewrite = rule.rewrite.uri;
  if (rule.rewrite?.uriRegexRewrite)
    action.regexRewrite = {
      pattern: { regex: rule.rewrite.uriRegexRewrite.match },
      substitution: rule.rewrite.uriRegexRewrite.rewrite,
    };
  const authority = rule.rewrite?.authority ?? reqOps.authority;
  if (authority !== undefined) action.hostRewriteLiteral = authority;
  const mirrors =
    rule.mirrors ?? (rule.mirror ? [{ destination: rule.mirror, percentage: rule.mirrorPercentage }] : []);
  const mirrorPolicies = [];
  for (const mi of mirrors) {
    const svc = ctx.idx.resolve(mi.destination.host, ns);
    if (!svc) {
      ctx.warn(`${where}: ${field}.mirror: host ${mi.destination.host} is not a known service`);
      continue;
    }
    const host = ctx.idx.fqdn(mi.destination.host, ns);
    const port = mi.destination.port?.number ?? svc.spec.ports[0]?.port ?? ctx.port;
    const name = ctx.cluster({
      svc,
      host,
      port,
      ...(mi.destination.subset ? { subset: mi.destination.subset } : {}),
    });
    const pct = mi.percentage ?? { value: 100 };
    if (pct.value === 0) continue;
    mirrorPolicies.push({ cluster: name, runtimeFraction: { defaultValue: percentage(pct) } });
  }
  if (mirrorPolicies.length) action.requestMirrorPolicies = mirrorPolicies;
  const cors = rule.corsPolicy;
  if (cors) {
    // Spec §1.12: origins as StringMatch (legacy allowOrigin = exact), lists joined with ",".
    const origins = [
      ...(cors.allowOrigins ?? [])
        .map((m) => stringMatcher(m))
        .filter((m): m is StringMatcher => m !== undefined),
      ...(cors.allowOrigin ?? []).map((o) => ({ exact: o })),
    ];
    action.cors = {
      allowOriginStringMatch: origins,
      allowMethods: (cors.allowMethods ?? []).join(','),
      allowHeaders: (cors.allowHeaders ?? []).join(','),
      exposeHeaders: (cors.exposeHeaders ?? []).join(','),
      ...(cors.maxAge ? { maxAge: String(Math.floor(Number(durationOf(cors.maxAge)!.seconds))) } : {}),
      ...(cors.allowCredentials ? { allowCredentials: { value: true } } : {}),
    };
  }
  route.route = action;

  const fault = rule.fault;
  if (fault && (fault.delay || fault.abort)) {
    const f: Init<envoy.extensions.filters.http.fault.v3.HTTPFault> = {};
    if (fault.delay?.fixedDelay) {
      const p = percentage(fault.delay.percentage, fault.delay.percent ?? 0);
      f.delay = { fixedDelay: durationOf(fault.delay.fixedDelay), ...(p ? { percentage: p } : {}) };
    }
    if (fault.abort) {
      const p = percentage(fault.abort.percentage);
      const grpc = fault.abort.grpcStatus ? GRPC_CODES[fault.abort.grpcStatus.toUpperCase()] : undefined;
      if (fault.abort.grpcStatus && grpc === undefined) {
        ctx.warn(`${where}: ${field}.fault.abort.grpcStatus: unknown gRPC status ${fault.abort.grpcStatus}`);
      } else {
        f.abort = {
          ...(grpc !== undefined ? { grpcStatus: grpc } : { httpStatus: fault.abort.httpStatus! }),
          percentage: p ?? { numerator: 0, denominator: MILLION },
        };
      }
    }
    route.typedPerFilterConfig = {
      [FAULT_FILTER]: { type_url: HTTPFault.typeUrl, value: HTTPFault.encode(f) },
    };
  }
  return route;
}

const GRPC_CODES: Record<string, number> = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
};

// ---- HTTPRoute (Gateway API, GAMMA) ----

type GwRule = ObjectOf<'HTTPRoute'>['spec']['rules'][number];
type GwMatch = NonNullable<GwRule['matches']>[number];

export function httpRoutesFor(ctx: RouteContext): ObjectOf<'HTTPRoute'>[] {
  const { idx, bound } = ctx;
  const nss = new Set([nsOf(bound.svc), bound.waypoint.namespace]);
  return (idx.objects.HTTPRoute ?? []).filter(
    (r) =>
      nss.has(nsOf(r)) &&
      r.spec.parentRefs.some(
        (p) =>
          (p.kind ?? 'Gateway') === 'Service' &&
          (p.group ?? '') === '' &&
          p.name === bound.svc.metadata.name &&
          (p.namespace ?? nsOf(r)) === nsOf(bound.svc) &&
          (p.port === undefined || p.port === ctx.port),
      ),
  );
}

interface Sortable {
  route: Route;
  m: GwMatch | undefined;
  created: string;
  key: string;
  order: number;
}

/** Gateway API precedence (spec §3.4). */
function precedence(a: Sortable, b: Sortable): number {
  const pt = (m: GwMatch | undefined) => {
    const t = m?.path?.type ?? 'PathPrefix';
    return t === 'Exact' ? 0 : t === 'PathPrefix' ? 1 : 2;
  };
  const plen = (m: GwMatch | undefined) => (m?.path?.value ?? '/').length;
  return (
    pt(a.m) - pt(b.m) ||
    plen(b.m) - plen(a.m) ||
    Number(b.m?.method !== undefined) - Number(a.m?.method !== undefined) ||
    (b.m?.headers?.length ?? 0) - (a.m?.headers?.length ?? 0) ||
    (b.m?.queryParams?.length ?? 0) - (a.m?.queryParams?.length ?? 0) ||
    a.created.localeCompare(b.created) ||
    a.key.localeCompare(b.key) ||
    a.order - b.order
  );
}

const SUPPORTED_FILTERS = new Set([
  'RequestHeaderModifier',
  'ResponseHeaderModifier',
  'RequestRedirect',
  'URLRewrite',
  'RequestMirror',
  'CORS',
]);

export function httpRouteRoutes(ctx: RouteContext): Route[] | undefined {
  const hrs = httpRoutesFor(ctx);
  if (hrs.length === 0) return undefined;
  const all: Sortable[] = [];
  let order = 0;
  const rejected = 0;
  for (const hr of hrs) {
    const where = `HTTPRoute/${nsOf(hr)}/${hr.metadata.name}`;
    if (
      rejectsRegexes(
        ctx,
        where,
        'HTTPRoute',
        hr.spec,
        (key, parent) => key === 'value' && parent.type === 'RegularExpression',
      )
    )
      continue;
    for (const [i, rule] of hr.spec.rules.entries()) {
      const field = `spec.rules[${i}]`;
      const bad = (rule.filters ?? []).find((f) => !SUPPORTED_FILTERS.has(f.type));
      if (bad) {
        ctx.warn(`${where}: ${field}.filters: filter type ${bad.type} is not supported; rule skipped`);
        continue;
      }
      if (rule.filters?.some((f) => f.type === 'CORS'))
        ctx.warn(`${where}: ${field}.filters: CORS is not applied by waypoints yet (ignored)`);
      const matches: (GwMatch | undefined)[] = rule.matches?.length ? rule.matches : [undefined];
      for (const m of matches) {
        const route = gwRoute(ctx, hr, rule, m, where, field);
        if (route)
          all.push({
            route,
            m,
            created: hr.metadata.creationTimestamp ?? '',
            key: `${nsOf(hr)}/${hr.metadata.name}`,
            order: order++,
          });
      }
    }
  }
  // Every HTTPRoute rejected: as if there were none (the default route).
  if (rejected === hrs.length) return undefined;
  return all.sort(precedence).map((s) => s.route);
}

function gwMatch(m: GwMatch | undefined): Init<envoy.config.route.v3.RouteMatch> {
  const out: Init<envoy.config.route.v3.RouteMatch> = {};
  const path = m?.path ?? { type: 'PathPrefix' as const, value: '/' };
  if (path.type === 'Exact') out.path = path.value;
  else if (path.type === 'RegularExpression') out.safeRegex = { regex: path.value };
  else {
    const v = path.value.length > 1 ? path.value.replace(/\/+$/, '') : path.value;
    if (v === '/' || v === '') out.prefix = '/';
    else out.pathSeparatedPrefix = v;
  }
  const headers: HeaderMatcher[] = (m?.headers ?? []).map((h) => ({
    name: h.name.toLowerCase(),
    stringMatch: h.type === 'RegularExpression' ? { safeRegex: { regex: h.value } } : { exact: h.value },
  }));
  if (m?.method) headers.push({ name: ':method', stringMatch: { exact: m.method } });
  if (headers.length) out.headers = headers;
  const qps = (m?.queryParams ?? []).map((q) => ({
    name: q.name,
    stringMatch: q.type === 'RegularExpression' ? { safeRegex: { regex: q.value } } : { exact: q.value },
  }));
  if (qps.length) out.queryParameters = qps;
  return out;
}

function gwHeaderOps(
  mod: { set?: { name: string; value: string }[]; add?: { name: string; value: string }[] } | undefined,
): HeaderOption[] {
  const out: HeaderOption[] = [];
  const seen = new Set<string>();
  for (const [list, action] of [
    [mod?.set, OVERWRITE],
    [mod?.add, APPEND],
  ] as const)
    for (const h of list ?? []) {
      const key = h.name.toLowerCase();
      if (seen.has(`${action}:${key}`)) continue; // later duplicates are ignored
      seen.add(`${action}:${key}`);
      out.push({ header: { key, value: h.value }, appendAction: action });
    }
  return out;
}

function gwRoute(
  ctx: RouteContext,
  hr: ObjectOf<'HTTPRoute'>,
  rule: GwRule,
  m: GwMatch | undefined,
  where: string,
  field: string,
): Route | undefined {
  const ns = nsOf(hr);
  const route: Route = { name: `${where}#${field}`, match: gwMatch(m) };
  for (const f of rule.filters ?? []) {
    if (f.type === 'RequestHeaderModifier' && f.requestHeaderModifier) {
      route.requestHeadersToAdd = [
        ...(route.requestHeadersToAdd ?? []),
        ...gwHeaderOps(f.requestHeaderModifier),
      ];
      route.requestHeadersToRemove = [
        ...(route.requestHeadersToRemove ?? []),
        ...(f.requestHeaderModifier.remove ?? []).map((h) => h.toLowerCase()),
      ];
    }
    if (f.type === 'ResponseHeaderModifier' && f.responseHeaderModifier) {
      route.responseHeadersToAdd = [
        ...(route.responseHeadersToAdd ?? []),
        ...gwHeaderOps(f.responseHeaderModifier),
      ];
      route.responseHeadersToRemove = [
        ...(route.responseHeadersToRemove ?? []),
        ...(f.responseHeaderModifier.remove ?? []).map((h) => h.toLowerCase()),
      ];
    }
  }
  const redirect = rule.filters?.find((f) => f.type === 'RequestRedirect')?.requestRedirect;
  if (redirect) {
    const codes: Record<number, number> = { 301: 0, 302: 1, 303: 2, 307: 3, 308: 4 };
    route.redirect = {
      ...(redirect.hostname ? { hostRedirect: redirect.hostname } : {}),
      ...(redirect.scheme ? { schemeRedirect: redirect.scheme } : {}),
      ...(redirect.port ? { portRedirect: redirect.port } : {}),
      ...(redirect.path?.type === 'ReplaceFullPath'
        ? { pathRedirect: redirect.path.replaceFullPath ?? '/' }
        : {}),
      ...(redirect.path?.type === 'ReplacePrefixMatch'
        ? { prefixRewrite: redirect.path.replacePrefixMatch ?? '/' }
        : {}),
      responseCode: codes[redirect.statusCode] ?? 1,
    };
    return route;
  }
  const backends = (rule.backendRefs ?? []).filter((b) => b.weight > 0);
  const action: RouteAction = {};
  if (backends.length === 0) {
    route.directResponse = { status: 500 };
    return route;
  }
  const clusters = [];
  for (const b of backends) {
    const kind = b.kind ?? 'Service';
    const svc = kind === 'Service' ? ctx.idx.resolve(`${b.name}.${b.namespace ?? ns}`, ns) : undefined;
    const port = b.port ?? svc?.spec.ports[0]?.port;
    if (!svc || port === undefined) {
      ctx.warn(
        `${where}: ${field}.backendRefs: ${kind} ${b.namespace ?? ns}/${b.name} not found (its share gets 500)`,
      );
      clusters.push({
        name: `outbound|${port ?? 0}||${b.name}.${b.namespace ?? ns}.svc.${ctx.idx.o.domainSuffix}`,
        weight: { value: b.weight },
      });
      continue;
    }
    const host = ctx.idx.fqdn(`${b.name}.${b.namespace ?? ns}`, ns);
    const name = ctx.cluster({ svc, host, port });
    const rq = gwHeaderOps(b.filters?.find((f) => f.type === 'RequestHeaderModifier')?.requestHeaderModifier);
    clusters.push({ name, weight: { value: b.weight }, ...(rq.length ? { requestHeadersToAdd: rq } : {}) });
  }
  if (clusters.length === 1 && !clusters[0]!.requestHeadersToAdd) action.cluster = clusters[0]!.name;
  else action.weightedClusters = { clusters };
  action.clusterNotFoundResponseCode = 2; // Istio: 500 for Gateway API routes
  const rewrite = rule.filters?.find((f) => f.type === 'URLRewrite')?.urlRewrite;
  if (rewrite?.hostname) action.hostRewriteLiteral = rewrite.hostname;
  if (rewrite?.path?.type === 'ReplaceFullPath')
    action.regexRewrite = { pattern: { regex: '^/.*$' }, substitution: rewrite.path.replaceFullPath ?? '/' };
  if (rewrite?.path?.type === 'ReplacePrefixMatch') {
    const to = rewrite.path.replacePrefixMatch ?? '/';
    const from = m?.path?.value ?? '/';
    if (to === '/')
      action.regexRewrite = {
        pattern: { regex: `^${escapeRe(from.replace(/\/+$/, ''))}(/?)(.*)` },
        substitution: '/\\2',
      };
    else action.prefixRewrite = to;
  }
  const timeouts = rule.timeouts;
  const retry = rule.retry;
  if (retry) {
    action.retryPolicy = {
      retryOn: [
        'connect-failure',
        'refused-stream',
        'unavailable',
        'cancelled',
        ...(retry.codes?.length ? ['retriable-status-codes'] : []),
      ].join(','),
      numRetries: { value: retry.attempts ?? 2 },
      retriableStatusCodes: retry.codes ?? [],
      retryHostPredicate: [{ name: 'envoy.retry_host_predicates.previous_hosts' }],
      hostSelectionRetryMaxAttempts: 5,
      ...(retry.backoff ? { retryBackOff: { baseInterval: durationOf(retry.backoff) } } : {}),
      ...(timeouts?.backendRequest ? { perTryTimeout: durationOf(timeouts.backendRequest) } : {}),
    };
    action.timeout = durationOf(timeouts?.request ?? '0s');
  } else {
    action.retryPolicy = defaultRetryPolicy(false);
    action.timeout = durationOf(timeouts?.backendRequest ?? timeouts?.request ?? '0s');
  }
  const mirror = rule.filters?.find((f) => f.type === 'RequestMirror')?.requestMirror;
  if (mirror) {
    const svc = ctx.idx.resolve(`${mirror.backendRef.name}.${mirror.backendRef.namespace ?? ns}`, ns);
    if (svc) {
      const host = ctx.idx.fqdn(`${mirror.backendRef.name}.${mirror.backendRef.namespace ?? ns}`, ns);
      const name = ctx.cluster({
        svc,
        host,
        port: mirror.backendRef.port ?? svc.spec.ports[0]?.port ?? ctx.port,
      });
      const pct =
        mirror.percent ??
        (mirror.fraction ? (100 * mirror.fraction.numerator) / mirror.fraction.denominator : 100);
      action.requestMirrorPolicies = [
        {
          cluster: name,
          runtimeFraction: { defaultValue: { numerator: Math.round(pct * 10000), denominator: MILLION } },
        },
      ];
    }
  }
  route.route = action;
  return route;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The default route when nothing is configured: everything to the service. */
export function defaultRoute(ctx: RouteContext): Route {
  const name = ctx.cluster({ svc: ctx.bound.svc, host: ctx.bound.host, port: ctx.port });
  const hash = ctx.hashPolicy({ svc: ctx.bound.svc, host: ctx.bound.host, port: ctx.port });
  return {
    name: 'default',
    match: { prefix: '/' },
    route: {
      cluster: name,
      timeout: durationOf('0s'),
      retryPolicy: defaultRetryPolicy(hash !== undefined),
      ...(hash ? { hashPolicy: hash } : {}),
    },
  };
}
