// Proxy errors and their mapping to the wire — one function per edge. Each failure becomes
// exactly one HBONE status, one response flag, one log line and one metric increment
// (shared spec ztunnel.md §1.3 status table, §7.1 response flags).
import type { ResponseFlag } from '@ambient/telemetry';

export type ProxyErrorCode =
  | 'BAD_REQUEST' // malformed or misdirected CONNECT
  | 'UNKNOWN_WORKLOAD' // no local workload for the target
  | 'ILLEGAL_PORT' // a loop onto ztunnel's own ports
  | 'DENIED' // authorization policy
  | 'CONNECT' // upstream TCP connect failed
  | 'NO_UPSTREAM' // service without healthy endpoints
  | 'UNKNOWN_SOURCE' // outbound from an address that is no local workload
  | 'HBONE' // the HBONE leg failed (dial, TLS, refusal)
  | 'IDENTITY' // no certificate for the source identity
  | 'ABORTED'; // an established tunnel was reset (peer reset, policy change)

export class ProxyError extends Error {
  constructor(
    readonly code: ProxyErrorCode,
    message: string,
    options?: { cause?: unknown; policy?: string },
  ) {
    super(message, options);
    this.name = 'ProxyError';
    this.policy = options?.policy;
  }
  readonly policy: string | undefined;
}

/** Inbound HBONE edge: the status of the CONNECT response. */
export function hboneStatus(err: ProxyError): 400 | 401 | 503 {
  switch (err.code) {
    case 'BAD_REQUEST':
      return 400;
    case 'DENIED':
      return 401;
    default:
      return 503;
  }
}

/** Metrics / access-log edge: the response flag. */
export function responseFlag(err: ProxyError | undefined): ResponseFlag {
  if (!err) return '-';
  switch (err.code) {
    case 'DENIED':
      return 'DENY';
    case 'CONNECT':
    case 'NO_UPSTREAM':
      return 'CONNECT';
    case 'HBONE':
      return 'CONNECT';
    case 'IDENTITY':
      return 'IDENTITY_ERROR';
    default:
      return '-';
  }
}

export function asProxyError(err: unknown, fallback: ProxyErrorCode): ProxyError {
  if (err instanceof ProxyError) return err;
  return new ProxyError(fallback, (err as Error)?.message ?? String(err), { cause: err });
}
