// Istio's CA RPC, client side — shared spec ztunnel.md §2.2–2.3: a fresh EC P-256 key per
// request, a CSR with the SPIFFE id as its only SAN, `validity_duration` = SECRET_TTL,
// metadata ImpersonatedIdentity in shared (node proxy) mode, `authorization` and
// `clusterid` headers; the returned leaf must carry exactly the identity asked for.
import { X509Certificate } from 'node:crypto';
import {
  IstioCertificateRequest,
  IstioCertificateResponse,
  type istio,
  Methods,
  structFromPlain,
} from '@ambient/proto';
import * as grpc from '@grpc/grpc-js';
import { MtlsError } from '../errors.js';
import type { Identity } from '../identity.js';
import { certificateUris, createCsr, generateEcKey } from '../x509.js';
import { IMPERSONATED_IDENTITY } from './ca-service.js';

/** A workload's key and certificates, as the TLS contexts need them. */
export interface WorkloadCertificate {
  identity: Identity;
  privateKeyPem: string;
  certPem: string;
  /** Intermediates between the leaf and the root (PEM each). */
  chainPems: string[];
  /** Root bundle (PEM). */
  rootPem: string;
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
}

/** Anything that can obtain a certificate for an identity (the CA client, a fake CA in tests). */
export interface CertificateProvider {
  fetchCertificate(identity: Identity): Promise<WorkloadCertificate>;
}

export interface CaClientOptions {
  /** `host:port`, optionally prefixed by `https://`. */
  address: string;
  /** Root to verify the CA's serving certificate; plaintext when absent (local development only). */
  tls?: { rootCert: Buffer | string; serverName?: string };
  headers?: () => Record<string, string>;
  /** Requested certificate lifetime (SECRET_TTL), seconds. Default 24 h. */
  ttlSeconds?: number;
  /** Shared mode: request other identities via ImpersonatedIdentity (default true). */
  impersonate?: boolean;
  timeoutMs?: number;
}

export class CaClient implements CertificateProvider {
  private readonly client: grpc.Client;

  constructor(private readonly opts: CaClientOptions) {
    const target = opts.address.replace(/^https?:\/\//, '');
    const creds = opts.tls
      ? grpc.credentials.createSsl(Buffer.from(opts.tls.rootCert))
      : grpc.credentials.createInsecure();
    this.client = new grpc.Client(target, creds, {
      ...(opts.tls?.serverName ? { 'grpc.ssl_target_name_override': opts.tls.serverName } : {}),
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
    });
  }

  async fetchCertificate(identity: Identity): Promise<WorkloadCertificate> {
    const key = generateEcKey();
    const req = {
      csr: createCsr(identity.toString(), key),
      validityDuration: this.opts.ttlSeconds ?? 24 * 3600,
      metadata:
        this.opts.impersonate === false
          ? null
          : structFromPlain({ [IMPERSONATED_IDENTITY]: identity.toString() }),
    };
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(this.opts.headers?.() ?? {})) metadata.set(k, v);
    const resp = await new Promise<istio.v1.auth.IstioCertificateResponse>((resolve, reject) => {
      this.client.makeUnaryRequest(
        Methods.createCertificate,
        (m: typeof req) => Buffer.from(IstioCertificateRequest.encode(m as never)),
        (b: Buffer) => IstioCertificateResponse.decode(b),
        req,
        metadata,
        { deadline: Date.now() + (this.opts.timeoutMs ?? 10_000) },
        (err, value) => {
          if (err) {
            reject(
              new MtlsError(
                'CA_RPC',
                `CA at ${this.opts.address} refused ${identity}: ${grpc.status[err.code]}: ${err.details}`,
                {
                  cause: err,
                },
              ),
            );
          } else resolve(value!);
        },
      );
    });
    return toWorkloadCertificate(identity, key.privateKeyPem, resp.certChain);
  }

  close(): void {
    this.client.close();
  }
}

/** Checks a CA response (leaf first, root bundle last) and shapes it for TLS. */
export function toWorkloadCertificate(
  identity: Identity,
  privateKeyPem: string,
  chain: string[],
): WorkloadCertificate {
  if (chain.length < 2)
    throw new MtlsError('BAD_CERT', `CA returned ${chain.length} certificate(s); expected leaf … root`);
  const leaf = new X509Certificate(chain[0]!);
  const uris = certificateUris(leaf);
  if (uris.length !== 1 || uris[0] !== identity.toString()) {
    throw new MtlsError(
      'BAD_CERT',
      `CA returned a certificate for ${uris.join(', ') || 'no identity'}, not ${identity}`,
    );
  }
  return {
    identity,
    privateKeyPem,
    certPem: chain[0]!,
    chainPems: chain.slice(1, -1),
    rootPem: chain[chain.length - 1]!,
    notBefore: new Date(leaf.validFrom),
    notAfter: new Date(leaf.validTo),
    serialNumber: leaf.serialNumber,
  };
}
