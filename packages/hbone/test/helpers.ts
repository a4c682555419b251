import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CertificateAuthority,
  createCsr,
  generateEcKey,
  Identity,
  toWorkloadCertificate,
  type WorkloadCertificate,
} from '@ambient/mtls';

export async function testPki() {
  const ca = await CertificateAuthority.loadOrCreate(mkdtempSync(path.join(tmpdir(), 'hbone-ca-')));
  const issue = (id: string): WorkloadCertificate => {
    const key = generateEcKey();
    const identity = Identity.parse(id);
    return toWorkloadCertificate(identity, key.privateKeyPem, ca.sign(createCsr(id, key), identity));
  };
  return { ca, issue };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
