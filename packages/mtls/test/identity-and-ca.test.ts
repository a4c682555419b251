import { X509Certificate } from 'node:crypto';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  CA_FILES,
  CertificateAuthority,
  certificateUris,
  createCertificate,
  generateEcKey,
  Identity,
  MtlsError,
} from '../src/index.js';
import { derToPem } from '../src/x509.js';
import { issue, tempDir } from './helpers.js';

describe('Identity', () => {
  it.each([
    ['spiffe://cluster.local/ns/shop/sa/web', 'cluster.local', 'shop', 'web'],
    ['spiffe://example.org/ns/default/sa/default', 'example.org', 'default', 'default'],
  ])('parses %s', (uri, td, ns, sa) => {
    const id = Identity.parse(uri);
    expect([id.trustDomain, id.namespace, id.serviceAccount]).toEqual([td, ns, sa]);
    expect(id.toString()).toBe(uri);
    expect(id.principal()).toBe(uri.slice('spiffe://'.length));
  });

  it.each([
    ['cluster.local/ns/shop/sa/web', /must start with spiffe:\/\//],
    ['spiffe://cluster.local/ns/shop/sa', /not of the form/],
    ['spiffe://cluster.local/namespace/shop/sa/web', /not of the form/],
    ['spiffe://cluster.local/ns/shop/serviceaccount/web', /not of the form/],
    ['spiffe://cluster.local/ns/shop/sa/web/extra', /not of the form/],
    ['spiffe://cluster.local/ns//sa/web', /invalid namespace/],
  ])('rejects %s', (uri, message) => {
    expect(() => Identity.parse(uri)).toThrow(message);
  });

  it('applies Istio defaults for empty trust domain and service account', () => {
    expect(new Identity('', 'shop', '').toString()).toBe('spiffe://cluster.local/ns/shop/sa/default');
  });
});

describe('CertificateAuthority', () => {
  it('creates a self-signed root on first start, persists it (key 0600), and keeps it across restarts', async () => {
    const dir = tempDir('ca-');
    const first = await CertificateAuthority.loadOrCreate(dir);
    expect(first.mode).toBe('self-signed');
    expect(statSync(path.join(dir, CA_FILES.key)).mode & 0o777).toBe(0o600);
    const second = await CertificateAuthority.loadOrCreate(dir);
    expect(second.rootPem).toBe(first.rootPem);
    // A certificate from before the restart verifies against the root after it.
    const leaf = new X509Certificate(issue(first, 'spiffe://cluster.local/ns/a/sa/b').certPem);
    expect(leaf.verify(new X509Certificate(second.rootPem).publicKey)).toBe(true);
  });

  it('refuses to start over when the key is missing but certificates exist', async () => {
    const dir = tempDir('ca-');
    await CertificateAuthority.loadOrCreate(dir);
    rmSync(path.join(dir, CA_FILES.key));
    await expect(CertificateAuthority.loadOrCreate(dir)).rejects.toThrow(
      /not both ca-cert.pem and ca-key.pem.*Refusing to create a new root/s,
    );
  });

  it('reports an unreadable key instead of regenerating', async () => {
    const dir = tempDir('ca-');
    await CertificateAuthority.loadOrCreate(dir);
    writeFileSync(path.join(dir, CA_FILES.key), 'garbage');
    await expect(CertificateAuthority.loadOrCreate(dir)).rejects.toThrow(MtlsError);
    await expect(CertificateAuthority.loadOrCreate(dir)).rejects.toThrow(/cannot read the CA/);
  });

  it('signs workload certificates as Istio does: one URI SAN, empty subject, TTL, chain leaf→root', async () => {
    const ca = await CertificateAuthority.loadOrCreate(tempDir('ca-'));
    const cert = issue(ca, 'spiffe://cluster.local/ns/shop/sa/web', { ttlSeconds: 3600 });
    const leaf = new X509Certificate(cert.certPem);
    expect(certificateUris(leaf)).toEqual(['spiffe://cluster.local/ns/shop/sa/web']);
    expect(leaf.subject ?? '').toBe('');
    expect(leaf.ca).toBe(false);
    const lifetime = cert.notAfter.getTime() - cert.notBefore.getTime();
    expect(lifetime).toBeGreaterThanOrEqual(3600_000);
    expect(lifetime).toBeLessThanOrEqual(3600_000 + 61_000); // backdated a minute for clock skew
    expect(cert.rootPem).toBe(ca.rootPem);
  });

  it.each([
    [0, 24 * 3600],
    [-5, 24 * 3600],
    [200 * 24 * 3600, 90 * 24 * 3600],
  ])('requested TTL %i s becomes %i s (default 24 h, cap 90 days)', async (ttl, expected) => {
    const ca = await CertificateAuthority.loadOrCreate(tempDir('ca-'));
    const cert = issue(ca, 'spiffe://cluster.local/ns/a/sa/b', { ttlSeconds: ttl });
    const seconds = (cert.notAfter.getTime() - Date.now()) / 1000;
    expect(Math.abs(seconds - expected)).toBeLessThan(5);
  });

  it('loads the plug-in layout and returns leaf, intermediate, root', async () => {
    const dir = tempDir('plugin-');
    const now = Date.now();
    const rootKey = generateEcKey();
    const rootDer = createCertificate(
      {
        subject: [{ shortName: 'O', value: 'Example Root' }],
        publicKey: rootKey.publicKey,
        notBefore: new Date(now - 1000),
        notAfter: new Date(now + 1e10),
        isCa: true,
      },
      rootKey.privateKey,
    );
    const root = new X509Certificate(rootDer);
    const interKey = generateEcKey();
    const { subjectDer } = await import('../src/x509.js');
    const interDer = createCertificate(
      {
        subject: [{ shortName: 'O', value: 'Example Intermediate' }],
        issuerDer: subjectDer(root),
        issuerPublicKey: root.publicKey,
        publicKey: interKey.publicKey,
        notBefore: new Date(now - 1000),
        notAfter: new Date(now + 1e9),
        isCa: true,
      },
      rootKey.privateKey,
    );
    writeFileSync(path.join(dir, CA_FILES.cert), derToPem(interDer, 'CERTIFICATE'));
    writeFileSync(path.join(dir, CA_FILES.key), interKey.privateKeyPem);
    writeFileSync(path.join(dir, CA_FILES.root), derToPem(rootDer, 'CERTIFICATE'));
    writeFileSync(
      path.join(dir, CA_FILES.chain),
      derToPem(interDer, 'CERTIFICATE') + derToPem(rootDer, 'CERTIFICATE'),
    );
    const ca = await CertificateAuthority.loadOrCreate(dir);
    expect(ca.mode).toBe('plug-in');
    const cert = issue(ca, 'spiffe://cluster.local/ns/shop/sa/web');
    expect(cert.chainPems).toHaveLength(1);
    const leaf = new X509Certificate(cert.certPem);
    const inter = new X509Certificate(cert.chainPems[0]!);
    expect(leaf.checkIssued(inter) && leaf.verify(inter.publicKey)).toBe(true);
    expect(inter.verify(new X509Certificate(cert.rootPem).publicKey)).toBe(true);
    expect(existsSync(path.join(dir, 'ca-cert.pem'))).toBe(true);
  });
});
