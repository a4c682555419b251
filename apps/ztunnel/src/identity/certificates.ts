// Where workload certificates come from: the CA RPC (CA_ADDRESS) or, with FAKE_CA=true, a
// self-signed CA inside this process (development only: no other ztunnel trusts it).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  CaClient,
  CertificateAuthority,
  type CertificateProvider,
  createCsr,
  generateEcKey,
  Identity,
  SecretManager,
  toWorkloadCertificate,
} from '@ambient/mtls';
import type { Config } from '../config.js';

export async function createSecretManager(
  config: Config,
): Promise<{ secrets: SecretManager; close(): void }> {
  if (config.fakeCa) {
    const dir = config.fakeCaDir ?? mkdtempSync(path.join(tmpdir(), 'ztunnel-fake-ca-'));
    const ca = await CertificateAuthority.loadOrCreate(dir, {
      trustDomain: config.trustDomain,
    });
    const provider: CertificateProvider = {
      async fetchCertificate(identity: Identity) {
        const key = generateEcKey();
        return toWorkloadCertificate(
          identity,
          key.privateKeyPem,
          ca.sign(createCsr(identity.toString(), key), identity, { ttlSeconds: config.secretTtlSeconds }),
        );
      },
    };
    return { secrets: new SecretManager(provider), close: () => {} };
  }
  const client = new CaClient({
    address: config.caAddress!,
    ...(config.caAddress!.startsWith('https://') && config.caRootCert
      ? { tls: { rootCert: config.caRootCert } }
      : {}),
    ttlSeconds: config.secretTtlSeconds,
    impersonate: config.proxyMode === 'shared',
    headers: () => {
      const token = config.authToken();
      return {
        ...config.caHeaders,
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        clusterid: config.clusterId,
      };
    },
  });
  return { secrets: new SecretManager(client), close: () => client.close() };
}

export { Identity };
