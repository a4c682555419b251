// Istio's CA RPC, server side — shared spec ztunnel.md §2.3:
// `/istio.v1.auth.IstioCertificateService/CreateCertificate`, request {csr, validity_duration,
// metadata{ImpersonatedIdentity}}, headers `authorization: Bearer <token>` and `clusterid`.
// Who may obtain which identity is decided by an authorizer hook (a static allow-list here;
// the controller plugs in Kubernetes TokenReview + node checks). Errors map to gRPC codes
// with a message an operator can act on.
import {
  IstioCertificateRequest,
  IstioCertificateResponse,
  type istio,
  Methods,
  structToPlain,
} from '@ambient/proto';
import * as grpc from '@grpc/grpc-js';
import { MtlsError } from '../errors.js';
import { Identity } from '../identity.js';
import { bearerToken } from '../tokens.js';
import { parseCsr } from '../x509.js';
import type { CertificateAuthority } from './certificate-authority.js';

export const IMPERSONATED_IDENTITY = 'ImpersonatedIdentity';

export interface CaRequestContext {
  /** Bearer token from the `authorization` header ('' when absent). */
  token: string;
  clusterId: string;
  peer: string;
  /** The identity asked for: ImpersonatedIdentity, else the CSR's URI SAN. */
  requested: Identity;
  impersonating: boolean;
}

/** Returns normally when the caller may have `ctx.requested`; throws MtlsError NOT_ALLOWED / UNAUTHENTICATED otherwise. */
export type CaAuthorizer = (ctx: CaRequestContext) => void | Promise<void>;

/**
 * A static allow-list: token → identities it may obtain. An entry ending in `*` matches by
 * prefix (`spiffe://cluster.local/ns/shop/sa/*`).
 */
export function staticAllowList(entries: Record<string, string[]>): CaAuthorizer {
  return (ctx) => {
    const allowed = entries[ctx.token];
    if (!allowed) throw new MtlsError('UNAUTHENTICATED', 'unknown or missing bearer token');
    const id = ctx.requested.toString();
    if (!allowed.some((p) => (p.endsWith('*') ? id.startsWith(p.slice(0, -1)) : p === id))) {
      throw new MtlsError('NOT_ALLOWED', `this caller may not obtain a certificate for ${id}`);
    }
  };
}

export const caServiceDefinition: grpc.ServiceDefinition = {
  CreateCertificate: {
    path: Methods.createCertificate,
    requestStream: false,
    responseStream: false,
    requestSerialize: (m: istio.v1.auth.IstioCertificateRequest) =>
      Buffer.from(IstioCertificateRequest.encode(m)),
    requestDeserialize: (b: Buffer) => IstioCertificateRequest.decode(b),
    responseSerialize: (m: istio.v1.auth.IstioCertificateResponse) =>
      Buffer.from(IstioCertificateResponse.encode(m)),
    responseDeserialize: (b: Buffer) => IstioCertificateResponse.decode(b),
    originalName: 'createCertificate',
  },
};

const STATUS_BY_CODE: Partial<Record<MtlsError['code'], grpc.status>> = {
  BAD_CSR: grpc.status.INVALID_ARGUMENT,
  BAD_IDENTITY: grpc.status.INVALID_ARGUMENT,
  NOT_ALLOWED: grpc.status.PERMISSION_DENIED,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  CA_NOT_READY: grpc.status.UNAVAILABLE,
};

export interface CaServiceOptions {
  /** The CA, or a function returning it (undefined while it is not ready yet). */
  ca: CertificateAuthority | (() => CertificateAuthority | undefined);
  authorize: CaAuthorizer;
  log?: (level: 'info' | 'warn', msg: string, fields?: Record<string, unknown>) => void;
}

export class CaService {
  constructor(private readonly opts: CaServiceOptions) {}

  addTo(server: grpc.Server): void {
    server.addService(caServiceDefinition, { CreateCertificate: this.handle });
  }

  /** Signs one request; the gRPC handler is a thin wrapper around this. */
  async createCertificate(
    req: istio.v1.auth.IstioCertificateRequest,
    meta: { token: string; clusterId: string; peer: string },
  ): Promise<string[]> {
    const ca = typeof this.opts.ca === 'function' ? this.opts.ca() : this.opts.ca;
    if (!ca) throw new MtlsError('CA_NOT_READY', 'the CA is not ready yet; retry shortly');
    const csr = parseCsr(req.csr);
    const impersonated = structToPlain(req.metadata)[IMPERSONATED_IDENTITY];
    let requested: Identity;
    if (typeof impersonated === 'string' && impersonated !== '') requested = Identity.parse(impersonated);
    else if (csr.uris[0]) requested = Identity.parse(csr.uris[0]);
    else
      throw new MtlsError(
        'BAD_CSR',
        `no identity requested: set metadata ${IMPERSONATED_IDENTITY} or a URI SAN in the CSR`,
      );
    if (requested.trustDomain !== ca.trustDomain) {
      throw new MtlsError(
        'NOT_ALLOWED',
        `trust domain ${requested.trustDomain} is not this CA's (${ca.trustDomain})`,
      );
    }
    await this.opts.authorize({ ...meta, requested, impersonating: typeof impersonated === 'string' });
    return ca.sign(req.csr, requested, { ttlSeconds: Number(req.validityDuration) });
  }

  private readonly handle = (
    call: grpc.ServerUnaryCall<istio.v1.auth.IstioCertificateRequest, istio.v1.auth.IstioCertificateResponse>,
    callback: grpc.sendUnaryData<istio.v1.auth.IstioCertificateResponse>,
  ): void => {
    const auth = String(call.metadata.get('authorization')[0] ?? '');
    const meta = {
      token: bearerToken(auth),
      clusterId: String(call.metadata.get('clusterid')[0] ?? ''),
      peer: call.getPeer(),
    };
    this.createCertificate(call.request, meta).then(
      (certChain) => callback(null, { certChain } as istio.v1.auth.IstioCertificateResponse),
      (err: unknown) => {
        const code =
          err instanceof MtlsError
            ? (STATUS_BY_CODE[err.code] ?? grpc.status.INTERNAL)
            : grpc.status.INTERNAL;
        const details = (err as Error).message;
        this.opts.log?.('warn', 'certificate request refused', {
          peer: meta.peer,
          code: grpc.status[code],
          error: details,
        });
        callback({ code, details });
      },
    );
  };
}
