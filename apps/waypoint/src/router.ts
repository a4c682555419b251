// One request through the waypoint, in Istio's filter order — shared spec waypoint.md §0:
// JWT authentication (RequestAuthentication, §5.2) → authorization (CUSTOM → DENY → ALLOW,
// §4.5) → fault injection (§1.9) → router (§1.2–§1.8: route selection, weighted targets,
// rewrites, redirects, direct responses, route and per-try timeouts, retries with Envoy's
// semantics, mirrors) → upstream (§2: load balancing, circuit breakers, outlier detection).
// Local replies carry Envoy's bodies and response flags (§6); gRPC requests get gRPC-style
// local replies (HTTP 200 + grpc-status). Telemetry per request (§7).
import { randomBytes, randomUUID } from 'node:crypto';
import type http from 'node:http';
import type http2 from 'node:http2';
import type { Readable } from 'node:stream';
import {
  evaluateL7,
  normalizeRequestPath,
  type PathNormalization,
  type RequestAttributes,
} from '@ambient/policy';
import type { HttpMetrics, Logger } from '@ambient/telemetry';
import { findToken, type JwksCache, verifyJwt } from './filters/jwt.js';
import { sanitizeRequestHeaders } from './filters/sanitize.js';
import {
  applyHeaderOps,
  type CompiledRoute,
  draw,
  type HashSpec,
  pickTarget,
  type RequestView,
  type RetrySpec,
  rewritePath,
  selectRoute,
} from './routing/routes.js';
import type { ServiceInfo, WaypointState, WorkloadInfo } from './state.js';
import { type Endpoint, Overflow, type UpstreamCluster } from './upstream/cluster.js';

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;
type Headers = Record<string, string | string[] | undefined>;

export interface Downstream {
  service: ServiceInfo;
  vip: string;
  port: number;
  /** Peer principal without `spiffe://`. */
  principal: string;
  sourceIp: string;
  source?: WorkloadInfo;
  http2: boolean;
}

/** What happened to a request (access log, metrics). */
interface Outcome {
  flags: Set<string>;
  route?: string;
  cluster?: UpstreamCluster;
  endpoint?: Endpoint;
  attempts: number;
  requestPrincipal?: string;
  detail?: string;
  grpcStatus?: string;
  /** Body bytes sent to the client. */
  responseBytes: number;
}

const GRPC_TRAILERS = ['grpc-status', 'grpc-message', 'grpc-status-details-bin'];

/**
 * A gRPC status for an HTTP/2 client: headers, then the status in trailers (a response whose
 * headers carry grpc-status but that then sends an empty DATA frame is not valid gRPC).
 */
function sendGrpcStatus(res: Res, headers: Record<string, string>, status: Record<string, string>): void {
  res.writeHead(200, headers);
  if ('addTrailers' in res) (res as http.ServerResponse).addTrailers(status);
  res.end();
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'http2-settings',
  'host',
]);

const GRPC_FROM_HTTP: Record<number, number> = {
  400: 13,
  401: 16,
  403: 7,
  404: 12,
  429: 14,
  502: 14,
  503: 14,
  504: 14,
};
const GRPC_RETRY_ON: Record<string, number> = {
  cancelled: 1,
  'deadline-exceeded': 4,
  'resource-exhausted': 8,
  internal: 13,
  unavailable: 14,
};

type Attempt =
  | {
      kind: 'response';
      status: number;
      headers: Headers;
      grpcStatus?: number;
      body: Readable;
      trailers: Promise<Headers | undefined>;
    }
  | {
      kind: 'error';
      error: 'connect' | 'reset' | 'refused' | 'overflow' | 'timeout' | 'global-timeout';
      detail: string;
    };

/** All request bodies buffered at once, across requests, when RouterDeps says nothing. */
export const DEFAULT_MAX_BUFFERED_BYTES = 128 * 1024 * 1024;

export interface RouterDeps {
  state: WaypointState;
  metrics: HttpMetrics;
  logger: Logger;
  jwks: JwksCache;
  maxRequestBytes: number;
  /** All request bodies buffered at once, across requests (default 128 MiB); past it → 503. */
  maxBufferedBytes?: number;
  accessLog: boolean;
  /** meshConfig pathNormalization (default BASE). */
  pathNormalization?: PathNormalization;
  /** Istio numTrustedProxies: XFF entries from the right believed for remote.ip (default 0). */
  trustedHops?: number;
  /** This waypoint's `spiffe://` identity (x-forwarded-client-cert `By`). */
  selfUri?: string;
  random?: () => number;
}

function flatHeaders(h: Headers): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(h)) if (!k.startsWith(':')) out[k] = Array.isArray(v) ? v.join(',') : v;
  return out;
}

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Router {
  private readonly random: () => number;
  /** Request body bytes held right now, by every request (the per-proxy buffer cap). */
  private buffered = 0;

  constructor(private readonly deps: RouterDeps) {
    this.random = deps.random ?? Math.random;
  }

  async handle(req: Req, res: Res, ds: Downstream): Promise<void> {
    const started = performance.now();
    const out: Outcome = { flags: new Set(), attempts: 0, responseBytes: 0 };
    const isGrpc = String(req.headers['content-type'] ?? '').startsWith('application/grpc');
    let requestBytes = 0;
    req.on('data', (c: Buffer) => {
      requestBytes += c.length;
    });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      this.report(req, res, ds, out, isGrpc, performance.now() - started, requestBytes, out.responseBytes);
    };
    res.once('finish', finish);
    res.once('close', () => {
      if (!res.writableFinished) out.flags.add('DC');
      finish();
    });
    // The body is collected from the start: filters may wait (JWKS, fault delay) and a short
    // request's 'end' must not pass unseen in the meantime.
    const body = this.readBody(req, res);
    try {
      await this.process(req, res, ds, out, isGrpc, body);
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message, path: req.url }, 'request failed');
      this.localReply(res, 500, 'internal error', out, isGrpc);
    }
  }

  private async process(
    req: Req,
    res: Res,
    ds: Downstream,
    out: Outcome,
    isGrpc: boolean,
    bodyPromise: Promise<Buffer | 'overloaded' | undefined>,
  ): Promise<void> {
    const { state } = this.deps;
    const headers = flatHeaders(req.headers as Headers);
    // The path is normalised once, here: routing, authorization and the upstream all see it.
    const normalized = normalizeRequestPath(req.url ?? '/', this.deps.pathNormalization ?? 'BASE');
    if (!normalized.ok) {
      out.detail = `invalid path: ${normalized.reason}`;
      return this.localReply(res, 400, 'Bad Request', out, isGrpc);
    }
    const rawPath = normalized.target;
    const policies = state.policiesFor(ds.service);
    const { remoteIp } = sanitizeRequestHeaders(headers, {
      sourceIp: ds.sourceIp,
      trustedHops: this.deps.trustedHops ?? 0,
      self: this.deps.selfUri ?? '',
      peer: `spiffe://${ds.principal}`,
      jwtOutputs: policies.jwtOutputs,
    });
    const authority = String(
      (req.headers as Headers)[':authority'] ?? req.headers.host ?? `${ds.service.hostname}:${ds.port}`,
    );
    const view: RequestView = {
      method: req.method ?? 'GET',
      path: rawPath,
      authority,
      scheme: 'http',
      headers,
    };
    const qIndex = rawPath.indexOf('?');
    const { authz, jwtRules } = policies;

    // 1. JWT authentication.
    let claims: Record<string, unknown> | undefined;
    if (jwtRules.length > 0) {
      let sawToken = false;
      let failure: string | undefined;
      for (const rule of jwtRules) {
        const loc = findToken(
          rule,
          headers,
          new URLSearchParams(qIndex < 0 ? '' : rawPath.slice(qIndex + 1)),
        );
        if (!loc) continue;
        sawToken = true;
        const r = await verifyJwt(rule, loc.token, this.deps.jwks);
        if (r.kind === 'ok') {
          out.requestPrincipal = r.principal;
          claims = r.claims;
          if (!rule.forwardOriginalToken && loc.header) delete headers[loc.header];
          if (rule.outputPayloadToHeader)
            headers[rule.outputPayloadToHeader.toLowerCase()] = Buffer.from(
              JSON.stringify(r.claims),
            ).toString('base64url');
          for (const c of rule.outputClaimToHeaders ?? []) {
            const v = r.claims[c.claim];
            if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
              headers[c.header.toLowerCase()] = String(v);
          }
          failure = undefined;
          break;
        }
        if (r.kind === 'invalid') failure ??= r.reason;
      }
      if (sawToken && !out.requestPrincipal) {
        out.detail = failure ?? 'Jwt verification fails';
        return this.localReply(res, 401, out.detail, out, isGrpc, {
          'www-authenticate': `Bearer realm="http://${authority}${rawPath.split('?')[0]}", error="invalid_token"`,
        });
      }
    }

    // 2. Authorization.
    if (authz.length > 0) {
      const attrs: RequestAttributes = {
        principal: ds.principal,
        sourceIp: ds.sourceIp,
        remoteIp,
        destinationIp: ds.vip,
        destinationPort: ds.port,
        host: authority,
        method: view.method,
        path: normalized.path,
        headers,
        ...(out.requestPrincipal ? { requestPrincipal: out.requestPrincipal } : {}),
        ...(claims ? { claims } : {}),
      };
      const decision = evaluateL7(authz, attrs);
      if (!decision.allowed) {
        out.detail = `rbac_access_denied${decision.policy ? `_matched_policy[${decision.policy}]` : ''}`;
        return this.localReply(res, 403, 'RBAC: access denied', out, isGrpc);
      }
    }

    // 3. Route selection.
    const table = state.routes.get(`inbound-vip|${ds.port}|http|${ds.service.hostname}`);
    const route = table ? selectRoute(table, view) : undefined;
    if (!route) {
      out.flags.add('NR');
      return this.localReply(res, 404, '', out, isGrpc);
    }
    out.route = route.name;

    // 4. Fault injection (before the router: no retries or timeouts apply to it).
    if (route.fault?.delay && draw(route.fault.delay.numerator, route.fault.delay.denominator, this.random)) {
      out.flags.add('DI');
      await sleep(route.fault.delay.ms);
      if (res.destroyed) return;
    }
    if (route.fault?.abort && draw(route.fault.abort.numerator, route.fault.abort.denominator, this.random)) {
      out.flags.add('FI');
      const a = route.fault.abort;
      if (a.grpcStatus !== undefined) return this.grpcReply(res, a.grpcStatus, 'fault filter abort', out);
      return this.localReply(res, a.httpStatus ?? 503, 'fault filter abort', out, isGrpc);
    }

    // 5. CORS (after authz and faults, as Istio orders the filters): an allowed preflight is
    // answered here; an actual request from an allowed origin gets the allow headers.
    const action = route.action;
    const corsHeaders: Headers = {};
    const cors = action.kind === 'forward' ? action.cors : undefined;
    const origin = headers.origin;
    if (cors && origin && cors.allowOrigin(origin)) {
      const requestedMethod = headers['access-control-request-method'];
      if (view.method === 'OPTIONS' && requestedMethod) {
        const h: Record<string, string> = { 'access-control-allow-origin': origin };
        const methods = cors.allowMethods === '*' ? requestedMethod : cors.allowMethods;
        const reqHeaders = headers['access-control-request-headers'];
        const allowHeaders = cors.allowHeaders === '*' ? (reqHeaders ?? '') : cors.allowHeaders;
        if (methods) h['access-control-allow-methods'] = methods;
        if (allowHeaders) h['access-control-allow-headers'] = allowHeaders;
        if (cors.maxAge) h['access-control-max-age'] = cors.maxAge;
        if (cors.allowCredentials) h['access-control-allow-credentials'] = 'true';
        res.writeHead(200, h);
        res.end();
        return;
      }
      corsHeaders['access-control-allow-origin'] = origin;
      if (cors.allowCredentials) corsHeaders['access-control-allow-credentials'] = 'true';
      if (cors.exposeHeaders) corsHeaders['access-control-expose-headers'] = cors.exposeHeaders;
    }

    // 6. Local actions.
    if (action.kind === 'direct') {
      const h: Headers = {};
      applyHeaderOps(h, route.response);
      res.writeHead(action.status, h as http.OutgoingHttpHeaders);
      res.end(action.body ?? '');
      return;
    }
    if (action.kind === 'redirect') {
      const [hostPart, portPart] = authority.split(':');
      const scheme = action.scheme ?? 'http';
      const port = action.port ?? (action.scheme ? undefined : portPart ? Number(portPart) : undefined);
      const defaultPort = scheme === 'https' ? 443 : 80;
      const host = action.host ?? hostPart;
      let path = rawPath.split('?')[0]!;
      if (action.path) path = action.path;
      else if (action.prefixRewrite !== undefined && route.matchedPrefix)
        path = action.prefixRewrite + path.slice(route.matchedPrefix.value.length);
      const q = action.stripQuery || qIndex < 0 ? '' : rawPath.slice(qIndex);
      const location = `${scheme}://${host}${port && port !== defaultPort ? `:${port}` : ''}${path}${action.path?.includes('?') ? '' : q}`;
      const h: Headers = { location };
      applyHeaderOps(h, route.response);
      res.writeHead(action.status, h as http.OutgoingHttpHeaders);
      res.end();
      return;
    }

    // 7. Forward: the request body is buffered (retries and mirrors replay it).
    const body = await bodyPromise;
    if (body === 'overloaded') {
      out.flags.add('UO');
      out.detail = 'request body buffers full';
      return this.localReply(res, 503, 'request body buffers full', out, isGrpc);
    }
    if (body === undefined) return this.localReply(res, 413, 'Payload Too Large', out, isGrpc);
    if (res.destroyed) return;
    await this.forward(req, res, ds, route, view, headers, body, out, isGrpc, corsHeaders);
  }

  /**
   * The request body, buffered for retries and mirrors: undefined when it is over the
   * per-request limit or the request was aborted; 'overloaded' when every request's buffered
   * bodies together would pass the per-proxy cap. What is held is released when the response
   * ends; what is refused is dropped at once.
   */
  private readBody(req: Req, res: Res): Promise<Buffer | 'overloaded' | undefined> {
    const cap = this.deps.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    return new Promise((resolve) => {
      let chunks: Buffer[] = [];
      let size = 0;
      let done = false;
      const release = () => {
        this.buffered -= size;
        size = 0;
        chunks = [];
      };
      const refuse = (why: 'overloaded' | undefined) => {
        if (done) return;
        done = true;
        release();
        resolve(why);
      };
      res.once('close', release);
      req.on('data', (c: Buffer) => {
        if (done) return;
        if (size + c.length > this.deps.maxRequestBytes) return refuse(undefined);
        if (this.buffered + c.length > cap) return refuse('overloaded');
        size += c.length;
        this.buffered += c.length;
        chunks.push(c);
      });
      req.once('end', () => {
        if (done) return;
        done = true;
        resolve(Buffer.concat(chunks));
      });
      req.once('error', () => refuse(undefined));
      req.once('aborted', () => refuse(undefined));
    });
  }

  /** Request body bytes held by all requests (admin, tests). */
  get bufferedBytes(): number {
    return this.buffered;
  }

  private hashOf(
    specs: HashSpec[],
    view: RequestView,
    ds: Downstream,
    setCookie: Headers,
  ): number | undefined {
    let h: number | undefined;
    for (const s of specs) {
      let key: string | undefined;
      if (s.kind === 'header') key = view.headers[s.name];
      else if (s.kind === 'sourceIp') key = ds.sourceIp;
      else if (s.kind === 'query') {
        const q = view.path.indexOf('?');
        key = new URLSearchParams(q < 0 ? '' : view.path.slice(q + 1)).get(s.name) ?? undefined;
      } else {
        const cookies = view.headers.cookie ?? '';
        key = s.pattern.exec(cookies)?.[1];
        if (key === undefined && s.ttlMs !== undefined) {
          key = randomBytes(8).toString('hex');
          setCookie['set-cookie'] =
            `${s.name}="${key}"${s.ttlMs > 0 ? `; Max-Age=${Math.floor(s.ttlMs / 1000)}` : ''}${s.path ? `; Path=${s.path}` : ''}; HttpOnly`;
        }
      }
      if (key !== undefined) h = ((h ?? 0) * 31 + fnv1a(key)) >>> 0;
    }
    return h;
  }

  private async forward(
    req: Req,
    res: Res,
    ds: Downstream,
    route: CompiledRoute,
    view: RequestView,
    headers: Record<string, string | undefined>,
    body: Buffer,
    out: Outcome,
    isGrpc: boolean,
    corsHeaders: Headers,
  ): Promise<void> {
    const action = route.action;
    if (action.kind !== 'forward') return;
    const target = pickTarget(action.targets, action.totalWeight, this.random);
    const cluster = this.deps.state.clusters.get(target.cluster);
    if (!cluster) {
      out.flags.add('NC');
      return this.localReply(res, action.clusterNotFoundStatus, '', out, isGrpc);
    }
    out.cluster = cluster;
    const upstreamHeaders: Headers = {};
    for (const [k, v] of Object.entries(headers)) if (!HOP_BY_HOP.has(k)) upstreamHeaders[k] = v;
    if (req.headers.te === 'trailers') upstreamHeaders.te = 'trailers';
    applyHeaderOps(upstreamHeaders, route.request);
    applyHeaderOps(upstreamHeaders, target.request);
    const authority = action.hostRewrite ?? view.authority;
    const path = rewritePath(route, view.path);
    if (path !== view.path) upstreamHeaders['x-envoy-original-path'] = view.path.split('?')[0];
    upstreamHeaders['x-request-id'] ??= randomUUID(); // Envoy's format; cached entropy
    const extraResponse: Headers = { ...corsHeaders };
    const hash = this.hashOf(action.hash, view, ds, extraResponse);

    for (const m of action.mirrors)
      if (draw(m.numerator, m.denominator, this.random))
        this.mirror(m.cluster, view.method, path, authority, upstreamHeaders, body, ds.http2);

    const retry = action.retry;
    const deadline = action.timeoutMs > 0 ? performance.now() + action.timeoutMs : Number.POSITIVE_INFINITY;
    const tried = new Set<string>();
    let retriesLeft = retry?.numRetries ?? 0;
    let result: Attempt | undefined;
    for (let attempt = 1; ; attempt++) {
      out.attempts = attempt;
      const ep = cluster.choose(
        hash,
        retry?.previousHosts ? tried : new Set(),
        retry?.previousHosts ? retry.hostSelectionAttempts : 1,
      );
      if (!ep) {
        out.flags.add('UH');
        return this.localReply(res, 503, 'no healthy upstream', out, isGrpc);
      }
      tried.add(ep.key);
      out.endpoint = ep;
      let admission: { release(): void };
      try {
        admission = cluster.admit();
      } catch (err) {
        if (!(err instanceof Overflow)) throw err;
        return this.overflowReply(res, out, isGrpc);
      }
      const remaining = deadline - performance.now();
      const perTry = retry?.perTryTimeoutMs ? Math.min(retry.perTryTimeoutMs, remaining) : remaining;
      const globalBound = perTry >= remaining;
      ep.active++;
      upstreamHeaders['x-envoy-attempt-count'] = String(attempt);
      result = await this.attempt(
        cluster,
        ep,
        view.method,
        path,
        authority,
        upstreamHeaders,
        body,
        perTry,
        globalBound,
        ds.http2,
        res,
      );
      ep.active--;
      const releaseAll = () => admission.release();
      if (result.kind === 'error' && result.error === 'overflow') {
        releaseAll();
        return this.overflowReply(res, out, isGrpc);
      }
      // Outlier detection sees every attempt's result (never overflows).
      if (cluster.outlier) {
        if (result.kind === 'response') cluster.outlier.report(ep.key, { status: result.status });
        else if (result.error === 'connect') cluster.outlier.report(ep.key, { local: 'connect' });
        else if (result.error === 'timeout' || result.error === 'global-timeout')
          cluster.outlier.report(ep.key, { local: 'timeout' });
        else cluster.outlier.report(ep.key, { local: 'reset' });
      }
      const retriable = retry !== undefined && this.shouldRetry(retry, result);
      const timeLeft = deadline - performance.now();
      if (
        retriable &&
        retriesLeft > 0 &&
        timeLeft > 0 &&
        !(result.kind === 'error' && result.error === 'global-timeout')
      ) {
        const budget = cluster.admitRetry();
        if (budget) {
          retriesLeft--;
          if (result.kind === 'response') result.body.destroy();
          releaseAll();
          // Envoy's fully jittered exponential back-off: [0, (2^n − 1) × base), capped.
          const backoff = Math.min(
            this.random() * (2 ** attempt - 1) * retry.baseIntervalMs,
            retry.maxIntervalMs,
          );
          await sleep(Math.min(backoff, Math.max(0, deadline - performance.now())));
          budget.release();
          if (res.destroyed) return;
          if (performance.now() >= deadline) {
            out.flags.add('UT');
            return this.localReply(res, 504, 'upstream request timeout', out, isGrpc);
          }
          continue;
        }
        out.flags.add('UO'); // retry overflow: the last result is returned
      } else if (retriable && retriesLeft === 0 && retry && retry.numRetries > 0) out.flags.add('URX');
      if (result.kind === 'error') {
        releaseAll();
        if (result.error === 'timeout' || result.error === 'global-timeout') {
          out.flags.add('UT');
          return this.localReply(res, 504, 'upstream request timeout', out, isGrpc);
        }
        out.flags.add(result.error === 'connect' ? 'UF' : 'UR');
        return this.localReply(
          res,
          503,
          `upstream connect error or disconnect/reset before headers. reset reason: ${result.error === 'connect' ? 'connection failure' : 'remote reset'}${result.detail ? `, transport failure reason: ${result.detail}` : ''}`,
          out,
          isGrpc,
        );
      }
      return this.relay(res, route, target.response, result, extraResponse, deadline, out, releaseAll);
    }
  }

  private shouldRetry(r: RetrySpec, a: Attempt): boolean {
    if (a.kind === 'error') {
      if (a.error === 'overflow' || a.error === 'global-timeout') return false;
      if (a.error === 'connect')
        return (
          r.on.has('connect-failure') || r.on.has('5xx') || r.on.has('gateway-error') || r.on.has('reset')
        );
      if (a.error === 'refused') return r.on.has('refused-stream') || r.on.has('5xx') || r.on.has('reset');
      // reset or per-try timeout
      return r.on.has('5xx') || r.on.has('gateway-error') || r.on.has('reset');
    }
    const s = a.status;
    if (r.on.has('5xx') && s >= 500) return true;
    if (r.on.has('gateway-error') && (s === 502 || s === 503 || s === 504)) return true;
    if (r.on.has('retriable-4xx') && s === 409) return true;
    if (r.on.has('retriable-status-codes') && r.statusCodes.has(s)) return true;
    if (a.grpcStatus !== undefined)
      for (const [name, code] of Object.entries(GRPC_RETRY_ON))
        if (a.grpcStatus === code && r.on.has(name)) return true;
    return false;
  }

  /** One try against one endpoint; resolves with response headers or an error kind. */
  private attempt(
    cluster: UpstreamCluster,
    ep: Endpoint,
    method: string,
    path: string,
    authority: string,
    headers: Headers,
    body: Buffer,
    timeoutMs: number,
    timeoutIsGlobal: boolean,
    useH2: boolean,
    downstream: Res,
  ): Promise<Attempt> {
    return new Promise<Attempt>((resolve) => {
      let settled = false;
      let abort: () => void = () => {};
      const done = (a: Attempt) => {
        if (settled) return;
        settled = true;
        resolve(a);
      };
      const timer = Number.isFinite(timeoutMs)
        ? setTimeout(
            () => {
              abort();
              done({
                kind: 'error',
                error: timeoutIsGlobal ? 'global-timeout' : 'timeout',
                detail: 'timeout',
              });
            },
            Math.max(0, timeoutMs),
          )
        : undefined;
      // The timer keeps running while the body streams: a timeout then resets the response.
      const onDownstreamClose = () => abort();
      downstream.once('close', onDownstreamClose);
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        downstream.off('close', onDownstreamClose);
      };
      if (!useH2) {
        let req: http.ClientRequest;
        try {
          req = cluster.http1Request(ep, {
            method,
            path,
            headers: { ...headers, host: authority } as http.OutgoingHttpHeaders,
          });
        } catch (err) {
          cleanup();
          if (err instanceof Overflow) return done({ kind: 'error', error: 'overflow', detail: err.what });
          return done({ kind: 'error', error: 'connect', detail: (err as Error).message });
        }
        let connected = false;
        req.once('socket', () => {
          connected = true;
        });
        abort = () => req.destroy();
        req.on('response', (res) => {
          res.once('end', cleanup);
          res.once('close', cleanup);
          done({
            kind: 'response',
            status: res.statusCode ?? 502,
            headers: res.headers,
            body: res,
            trailers: new Promise((r) => res.once('end', () => r(res.trailers))),
          });
        });
        req.on('error', (err: Error) => {
          cleanup();
          done({ kind: 'error', error: connected ? 'reset' : 'connect', detail: err.message });
        });
        req.end(body);
        return;
      }
      cluster.http2Session(ep).then(
        (session) => {
          if (settled) return;
          let stream: http2.ClientHttp2Stream;
          try {
            stream = session.request({
              ':method': method,
              ':path': path,
              ':authority': authority,
              ...headers,
            } as http2.OutgoingHttpHeaders);
          } catch (err) {
            cleanup();
            return done({ kind: 'error', error: 'reset', detail: (err as Error).message });
          }
          abort = () => stream.close(8 /* CANCEL */);
          const trailers = new Promise<Headers | undefined>((r) => {
            stream.once('trailers', (t) => r(t as Headers));
            stream.once('close', () => r(undefined));
          });
          stream.once('response', (h) => {
            stream.once('close', cleanup);
            const grpc = h['grpc-status'];
            done({
              kind: 'response',
              status: Number(h[':status'] ?? 502),
              headers: h as Headers,
              ...(grpc !== undefined ? { grpcStatus: Number(grpc) } : {}),
              body: stream,
              trailers,
            });
          });
          stream.on('error', () => {});
          stream.once('close', () => {
            if (settled) return;
            cleanup();
            done({
              kind: 'error',
              error: stream.rstCode === 7 /* REFUSED_STREAM */ ? 'refused' : 'reset',
              detail: `stream reset (code ${stream.rstCode})`,
            });
          });
          stream.end(body);
        },
        (err: Error) => {
          cleanup();
          done({ kind: 'error', error: 'connect', detail: err.message });
        },
      );
    });
  }

  /** Streams the chosen upstream response to the client (no retry after this point). */
  private relay(
    res: Res,
    route: CompiledRoute,
    targetOps: { add: { key: string; value: string; overwrite: boolean }[]; remove: string[] },
    a: Extract<Attempt, { kind: 'response' }>,
    extra: Headers,
    deadline: number,
    out: Outcome,
    release: () => void,
  ): void {
    const h: Headers = {};
    for (const [k, v] of Object.entries(a.headers)) if (!k.startsWith(':') && !HOP_BY_HOP.has(k)) h[k] = v;
    applyHeaderOps(h, targetOps);
    applyHeaderOps(h, route.response);
    Object.assign(h, extra);
    // A trailers-only gRPC answer (status in the headers) is relayed with its status as trailers.
    const early: Record<string, string> = {};
    for (const k of GRPC_TRAILERS)
      if (h[k] !== undefined) {
        early[k] = String(h[k]);
        delete h[k];
      }
    if (early['grpc-status'] !== undefined) out.grpcStatus = early['grpc-status'];
    res.writeHead(a.status, h as http.OutgoingHttpHeaders);
    const timer = Number.isFinite(deadline)
      ? setTimeout(
          () => {
            out.flags.add('UT');
            a.body.destroy();
            res.destroy();
          },
          Math.max(0, deadline - performance.now()),
        )
      : undefined;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      if (timer) clearTimeout(timer);
      release();
      return true;
    };
    const complete = () => {
      if (settled) return;
      void a.trailers.then((t) => {
        if (!settle()) return;
        const clean: Record<string, string> = { ...early };
        for (const [k, v] of Object.entries(t ?? {}))
          if (!k.startsWith(':') && v !== undefined) clean[k] = Array.isArray(v) ? v.join(',') : v;
        if (clean['grpc-status'] !== undefined) out.grpcStatus = clean['grpc-status'];
        if (Object.keys(clean).length > 0 && 'addTrailers' in res)
          (res as http.ServerResponse).addTrailers(clean);
        res.end();
      });
    };
    const broken = (flag: string) => {
      if (!settle()) return;
      out.flags.add(flag);
      res.destroy();
    };
    a.body.on('data', (c: Buffer) => {
      out.responseBytes += c.length;
      if (!(res as http.ServerResponse).write(c)) {
        a.body.pause();
        res.once('drain', () => a.body.resume());
      }
    });
    a.body.once('end', complete);
    a.body.once('error', () => broken('UPE'));
    const onClose = () => {
      // An HTTP/2 stream closed with NO_ERROR (e.g. a trailers-only answer) ended cleanly even
      // if nobody read its end yet; anything else is a reset from upstream.
      const rst = (a.body as { rstCode?: number }).rstCode;
      const h1Complete = (a.body as { complete?: boolean }).complete;
      if (a.body.readableEnded) complete();
      else if (rst === 0 || h1Complete)
        a.body.resume(); // buffered data, then 'end'
      else broken('UR');
    };
    a.body.once('close', onClose);
    // A short answer may have ended and closed before we got here (same tick as its headers).
    if ((a.body as { closed?: boolean }).closed || a.body.destroyed) onClose();
    res.once('close', () => {
      if (!settled) {
        a.body.destroy();
        settle();
      }
    });
  }

  /** Fire-and-forget copy to a mirror cluster (no retries, response ignored). */
  private mirror(
    clusterName: string,
    method: string,
    path: string,
    authority: string,
    headers: Headers,
    body: Buffer,
    useH2: boolean,
  ): void {
    const cluster = this.deps.state.clusters.get(clusterName);
    const ep = cluster?.choose(undefined);
    if (!cluster || !ep) return;
    const sink = { once() {}, off() {} } as unknown as Res;
    void this.attempt(
      cluster,
      ep,
      method,
      path,
      authority,
      { ...headers },
      body,
      10_000,
      true,
      useH2,
      sink,
    ).then((a) => {
      if (a.kind === 'response') a.body.resume();
    });
  }

  /** Circuit breaker overflow: 503 `UO` with `x-envoy-overloaded` (never retried). */
  private overflowReply(res: Res, out: Outcome, isGrpc: boolean): void {
    out.flags.add('UO');
    this.localReply(
      res,
      503,
      'upstream connect error or disconnect/reset before headers. reset reason: overflow',
      out,
      isGrpc,
      {
        'x-envoy-overloaded': 'true',
      },
    );
  }

  private grpcReply(
    res: Res,
    code: number,
    message: string,
    out: Outcome,
    extra: Record<string, string> = {},
  ): void {
    if (res.headersSent || res.destroyed) return void res.destroy();
    out.grpcStatus = String(code);
    sendGrpcStatus(
      res,
      { 'content-type': 'application/grpc', ...extra },
      { 'grpc-status': String(code), 'grpc-message': encodeURIComponent(message) },
    );
  }

  /** Envoy-style local reply (gRPC requests get HTTP 200 with the mapped grpc-status). */
  private localReply(
    res: Res,
    status: number,
    body: string,
    out: Outcome,
    isGrpc: boolean,
    extra: Record<string, string> = {},
  ): void {
    out.detail ??= body;
    if (res.headersSent || res.destroyed) return void res.destroy();
    if (isGrpc) {
      this.grpcReply(res, GRPC_FROM_HTTP[status] ?? 2, body, out, extra);
      return;
    }
    out.responseBytes += Buffer.byteLength(body);
    res.writeHead(status, {
      'content-type': 'text/plain',
      'content-length': Buffer.byteLength(body),
      ...extra,
    });
    res.end(body);
  }

  private report(
    req: Req,
    res: Res,
    ds: Downstream,
    out: Outcome,
    isGrpc: boolean,
    ms: number,
    reqBytes: number,
    resBytes: number,
  ): void {
    const flags = out.flags.size ? [...out.flags].join(',') : '-';
    const status = res.headersSent ? res.statusCode : 0;
    const grpcStatus = isGrpc ? (out.grpcStatus ?? '') : '';
    const src = ds.source;
    const ep = out.endpoint;
    const c = out.cluster;
    const svcHost = c?.host || ds.service.hostname;
    this.deps.metrics.record(
      {
        reporter: 'waypoint',
        source_workload: src?.workloadName ?? '',
        source_canonical_service: src?.canonicalName ?? '',
        source_canonical_revision: src?.canonicalRevision ?? '',
        source_workload_namespace: src?.namespace ?? /\/ns\/([^/]+)\//.exec(ds.principal)?.[1] ?? '',
        source_principal: ds.principal ? `spiffe://${ds.principal}` : '',
        source_app: src?.canonicalName ?? '',
        source_version: src?.canonicalRevision ?? '',
        source_cluster: src?.clusterId ?? '',
        destination_workload: ep?.workload.name ?? '',
        destination_workload_namespace: ep?.workload.namespace ?? '',
        destination_principal: ep?.identity ?? '',
        destination_app: ep?.workload.canonical ?? '',
        destination_version: ep?.workload.revision ?? '',
        destination_service: svcHost,
        destination_canonical_service: ep?.workload.canonical ?? '',
        destination_canonical_revision: ep?.workload.revision ?? '',
        destination_service_name: c?.serviceName || ds.service.name,
        destination_service_namespace: c?.serviceNamespace || ds.service.namespace,
        destination_cluster: ep?.workload.cluster ?? '',
        request_protocol: isGrpc ? 'grpc' : 'http',
        response_code: String(status),
        grpc_response_status: grpcStatus,
        response_flags: flags,
        connection_security_policy: ds.principal ? 'mutual_tls' : 'none',
      },
      ms,
      reqBytes,
      resBytes,
    );
    if (this.deps.accessLog)
      this.deps.logger.info(
        {
          scope: 'access',
          method: req.method,
          path: req.url,
          authority: req.headers.host ?? (req.headers as Headers)[':authority'],
          protocol: ds.http2 ? 'HTTP/2' : 'HTTP/1.1',
          response_code: status,
          ...(isGrpc ? { grpc_status: grpcStatus } : {}),
          response_flags: flags,
          ...(out.detail ? { response_code_details: out.detail } : {}),
          duration_ms: Math.round(ms * 100) / 100,
          route_name: out.route,
          upstream_cluster: c?.name,
          upstream_host: ep?.key,
          attempts: out.attempts,
          'src.addr': ds.sourceIp,
          'src.identity': ds.principal ? `spiffe://${ds.principal}` : undefined,
          ...(out.requestPrincipal ? { request_principal: out.requestPrincipal } : {}),
          'dst.service': ds.service.hostname,
        },
        'request',
      );
  }
}
