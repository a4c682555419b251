// SPIFFE identities — shared spec ztunnel.md §2.1: `spiffe://<td>/ns/<ns>/sa/<sa>`, exactly
// five parts after the scheme with literal `ns` and `sa`. Defaults: trust domain
// `cluster.local`, service account `default`.
import { MtlsError } from './errors.js';

export const DEFAULT_TRUST_DOMAIN = 'cluster.local';
export const DEFAULT_SERVICE_ACCOUNT = 'default';

export class Identity {
  readonly trustDomain: string;
  readonly namespace: string;
  readonly serviceAccount: string;

  constructor(trustDomain: string, namespace: string, serviceAccount: string) {
    this.trustDomain = trustDomain || DEFAULT_TRUST_DOMAIN;
    this.namespace = namespace;
    this.serviceAccount = serviceAccount || DEFAULT_SERVICE_ACCOUNT;
    for (const [what, v] of [
      ['trust domain', this.trustDomain],
      ['namespace', this.namespace],
      ['service account', this.serviceAccount],
    ] as const) {
      if (!v || v.includes('/') || /\s/.test(v)) {
        throw new MtlsError('BAD_IDENTITY', `invalid ${what} "${v}" for a SPIFFE identity`);
      }
    }
  }

  static parse(uri: string): Identity {
    if (!uri.startsWith('spiffe://')) {
      throw new MtlsError('BAD_IDENTITY', `"${uri}" is not a SPIFFE identity: it must start with spiffe://`);
    }
    const parts = uri.slice('spiffe://'.length).split('/');
    if (parts.length !== 5 || parts[1] !== 'ns' || parts[3] !== 'sa') {
      throw new MtlsError(
        'BAD_IDENTITY',
        `"${uri}" is not of the form spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`,
      );
    }
    return new Identity(parts[0]!, parts[2]!, parts[4]!);
  }

  /** Parses, returning undefined instead of throwing. */
  static tryParse(uri: string): Identity | undefined {
    try {
      return Identity.parse(uri);
    } catch {
      return undefined;
    }
  }

  toString(): string {
    return `spiffe://${this.trustDomain}/ns/${this.namespace}/sa/${this.serviceAccount}`;
  }

  /** The principal as Istio's policies write it: `<td>/ns/<ns>/sa/<sa>` (no scheme). */
  principal(): string {
    return `${this.trustDomain}/ns/${this.namespace}/sa/${this.serviceAccount}`;
  }

  equals(other: Identity): boolean {
    return this.toString() === other.toString();
  }
}
