// The CA — shared spec ztunnel.md §2.2–2.3. Two layouts in one directory:
//
//   plug-in (Istio's `cacerts`): ca-cert.pem, ca-key.pem, root-cert.pem, cert-chain.pem
//     ca-cert/ca-key sign; cert-chain is ca-cert up to (not always including) the root;
//   self-signed: created on first start as ca-cert.pem + ca-key.pem (+ root-cert.pem = ca-cert),
//     persisted with the key at mode 0600, and never silently regenerated.
//
// Signing: a CSR becomes a workload certificate whose only SAN is the SPIFFE identity the
// caller was authorised for (the CSR's own SAN is not trusted), TTL as requested (default
// 24 h, capped at 90 days), returned as Istio does: leaf, intermediates, root last.
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MtlsError } from '../errors.js';
import type { Identity } from '../identity.js';
import { createCertificate, derToPem, generateEcKey, parseCsr, splitPemBundle, subjectDer } from '../x509.js';

export const DEFAULT_WORKLOAD_CERT_TTL_S = 24 * 3600;
export const MAX_WORKLOAD_CERT_TTL_S = 90 * 24 * 3600;
const ROOT_TTL_MS = 10 * 365 * 24 * 3600 * 1000;
/** Backdating absorbs clock skew between nodes — at most a tenth of the lifetime, so that
 * short-lived certificates still reach their half-life after they are issued. */
const MAX_BACKDATE_MS = 60_000;

export const CA_FILES = {
  cert: 'ca-cert.pem',
  key: 'ca-key.pem',
  root: 'root-cert.pem',
  chain: 'cert-chain.pem',
} as const;

export interface SignOptions {
  ttlSeconds?: number;
  /** Tests only: sign with another validity start (e.g. to make an expired certificate). */
  notBefore?: Date;
}

export class CertificateAuthority {
  private constructor(
    private readonly signingKey: KeyObject,
    private readonly signingCert: X509Certificate,
    /** PEMs between the leaf and the root (empty for a self-signed root). */
    private readonly intermediates: string[],
    /** Root bundle (PEM), last element of every chain we return. */
    readonly rootPem: string,
    readonly trustDomain: string,
    readonly mode: 'self-signed' | 'plug-in',
  ) {}

  /** Loads the CA from `dir`, or creates a self-signed root there when the directory holds none. */
  static async loadOrCreate(dir: string, opts: { trustDomain?: string } = {}): Promise<CertificateAuthority> {
    const trustDomain = opts.trustDomain ?? 'cluster.local';
    const file = (n: string) => path.join(dir, n);
    const present = Object.values(CA_FILES).filter((n) => existsSync(file(n)));
    if (present.length === 0) return CertificateAuthority.createSelfSigned(dir, trustDomain);
    if (!present.includes(CA_FILES.cert) || !present.includes(CA_FILES.key)) {
      throw new MtlsError(
        'CA_STATE',
        `CA directory ${dir} has ${present.join(', ')} but not both ${CA_FILES.cert} and ${CA_FILES.key}. ` +
          'Refusing to create a new root: every workload certificate already issued would stop being trusted. ' +
          `Restore ${CA_FILES.key}, or empty the directory to start a new root on purpose.`,
      );
    }
    let key: KeyObject;
    let cert: X509Certificate;
    try {
      key = createPrivateKey(await readFile(file(CA_FILES.key)));
      cert = new X509Certificate(await readFile(file(CA_FILES.cert)));
    } catch (err) {
      throw new MtlsError(
        'CA_STATE',
        `cannot read the CA in ${dir}: ${(err as Error).message}. Refusing to create a new root; fix or restore the files.`,
        { cause: err },
      );
    }
    if (!cert.ca)
      throw new MtlsError(
        'CA_STATE',
        `${file(CA_FILES.cert)} is not a CA certificate (basicConstraints CA:FALSE)`,
      );
    if (!cert.checkPrivateKey(key))
      throw new MtlsError('CA_STATE', `${file(CA_FILES.key)} does not match ${file(CA_FILES.cert)}`);
    const rootPem = present.includes(CA_FILES.root)
      ? await readFile(file(CA_FILES.root), 'utf8')
      : cert.toString();
    const roots = splitPemBundle(rootPem).map((p) => new X509Certificate(p));
    const isSelfSigned = roots.some((r) => r.fingerprint256 === cert.fingerprint256);
    let intermediates: string[] = [];
    if (!isSelfSigned) {
      // cert-chain.pem: ca-cert first, maybe more intermediates, maybe the root at the end.
      const chain = present.includes(CA_FILES.chain)
        ? splitPemBundle(await readFile(file(CA_FILES.chain), 'utf8'))
        : [cert.toString()];
      intermediates = chain.filter(
        (p) => !roots.some((r) => r.fingerprint256 === new X509Certificate(p).fingerprint256),
      );
      if (intermediates.length === 0) intermediates = [cert.toString()];
      const last = new X509Certificate(intermediates[intermediates.length - 1]!);
      if (!roots.some((r) => last.checkIssued(r) && last.verify(r.publicKey))) {
        throw new MtlsError(
          'CA_STATE',
          `${CA_FILES.chain} in ${dir} does not lead to a certificate in ${CA_FILES.root}`,
        );
      }
    }
    return new CertificateAuthority(
      key,
      cert,
      intermediates.map(ensureNewline),
      ensureNewline(rootPem),
      trustDomain,
      isSelfSigned ? 'self-signed' : 'plug-in',
    );
  }

  private static async createSelfSigned(dir: string, trustDomain: string): Promise<CertificateAuthority> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const key = generateEcKey();
    const now = Date.now();
    const der = createCertificate(
      {
        subject: [{ shortName: 'O', value: trustDomain }],
        publicKey: key.publicKey,
        notBefore: new Date(now - MAX_BACKDATE_MS),
        notAfter: new Date(now + ROOT_TTL_MS),
        isCa: true,
      },
      key.privateKey,
    );
    const pem = derToPem(der, 'CERTIFICATE');
    // Key first, then the certificate: a crash in between leaves a key without a cert,
    // which load reports instead of silently starting over.
    await writeFile(path.join(dir, CA_FILES.key), key.privateKeyPem, { mode: 0o600 });
    await chmod(path.join(dir, CA_FILES.key), 0o600);
    await writeFile(path.join(dir, CA_FILES.cert), pem);
    await writeFile(path.join(dir, CA_FILES.root), pem);
    return new CertificateAuthority(
      key.privateKey,
      new X509Certificate(der),
      [],
      pem,
      trustDomain,
      'self-signed',
    );
  }

  /**
   * A TLS serving certificate for the control plane itself (xDS and CA on 15012): DNS and IP
   * SANs so gRPC clients can verify the address they dial. Returns the chain (leaf first,
   * without the root) and the key.
   */
  issueServing(opts: { dnsNames: string[]; ips?: string[]; ttlSeconds?: number }): {
    chainPem: string;
    keyPem: string;
  } {
    const key = generateEcKey();
    const ttl = opts.ttlSeconds ?? 365 * 24 * 3600;
    const der = createCertificate(
      {
        subject: [{ shortName: 'O', value: this.trustDomain }],
        issuerDer: subjectDer(this.signingCert),
        publicKey: key.publicKey,
        notBefore: new Date(Date.now() - MAX_BACKDATE_MS),
        notAfter: new Date(Math.min(Date.now() + ttl * 1000, new Date(this.signingCert.validTo).getTime())),
        isCa: false,
        dnsNames: opts.dnsNames,
        ips: opts.ips ?? [],
        issuerPublicKey: this.signingCert.publicKey,
      },
      this.signingKey,
    );
    return {
      chainPem: [derToPem(der, 'CERTIFICATE'), ...this.intermediates].join(''),
      keyPem: key.privateKeyPem,
    };
  }

  /** Signs a CSR for `identity`; returns the chain: leaf, intermediates, root bundle last. */
  sign(csrPem: string, identity: Identity, opts: SignOptions = {}): string[] {
    const csr = parseCsr(csrPem);
    let ttl = opts.ttlSeconds ?? 0;
    if (!(ttl > 0)) ttl = DEFAULT_WORKLOAD_CERT_TTL_S;
    ttl = Math.min(ttl, MAX_WORKLOAD_CERT_TTL_S);
    const start = opts.notBefore?.getTime() ?? Date.now() - Math.min(MAX_BACKDATE_MS, (ttl * 1000) / 10);
    const end = (opts.notBefore?.getTime() ?? Date.now()) + ttl * 1000;
    const der = createCertificate(
      {
        subject: [],
        issuerDer: subjectDer(this.signingCert),
        publicKey: csr.publicKey,
        notBefore: new Date(start),
        notAfter: new Date(Math.min(end, new Date(this.signingCert.validTo).getTime())),
        isCa: false,
        uris: [identity.toString()],
        issuerPublicKey: this.signingCert.publicKey,
      },
      this.signingKey,
    );
    return [derToPem(der, 'CERTIFICATE'), ...this.intermediates, this.rootPem];
  }
}

function ensureNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}
