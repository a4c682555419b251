import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  type CertificateProvider,
  toWorkloadCertificate,
  type WorkloadCertificate,
} from '../src/ca/ca-client.js';
import { CertificateAuthority } from '../src/ca/certificate-authority.js';
import { Identity } from '../src/identity.js';
import { createCsr, generateEcKey } from '../src/x509.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export async function newCa(trustDomain = 'cluster.local'): Promise<CertificateAuthority> {
  return CertificateAuthority.loadOrCreate(tempDir('ca-'), { trustDomain });
}

/** Issues a certificate straight from a CA object (no RPC), as the CA client would get it. */
export function issue(
  ca: CertificateAuthority,
  id: string,
  opts: { ttlSeconds?: number; notBefore?: Date } = {},
): WorkloadCertificate {
  const key = generateEcKey();
  const identity = Identity.parse(id);
  return toWorkloadCertificate(identity, key.privateKeyPem, ca.sign(createCsr(id, key), identity, opts));
}

export function provider(
  ca: CertificateAuthority,
  ttlSeconds: number,
): CertificateProvider & { calls: number } {
  const p = {
    calls: 0,
    async fetchCertificate(identity: Identity) {
      p.calls++;
      return issue(ca, identity.toString(), { ttlSeconds });
    },
  };
  return p;
}
