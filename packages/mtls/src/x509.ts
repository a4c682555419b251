// X.509 and PKCS#10 with EC P-256 keys.
//
// Why two libraries: node-forge knows X.509 and CSR *structures* (ASN.1/DER, names, the
// extension encoders) but has no elliptic-curve keys — its certificate signing and key
// parsing are RSA only. Node's crypto has EC keys and ECDSA but cannot build a certificate.
// So forge builds the to-be-signed structures, and Node generates keys, signs, verifies
// and parses certificates (crypto.X509Certificate). The two meet at DER bytes: forge's
// TBSCertificate gets the SubjectPublicKeyInfo Node exported and ECDSA's algorithm
// identifier (no parameters), Node signs its DER, forge wraps the result.
import {
  createHash,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  verify,
  type X509Certificate,
} from 'node:crypto';
import forge from 'node-forge';
import { MtlsError } from './errors.js';

const { asn1, pki } = forge;
const OID_ECDSA_SHA256 = '1.2.840.10045.4.3.2';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** PKCS#8 PEM, as ztunnel keeps it. */
  privateKeyPem: string;
}

export function generateEcKey(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    privateKey,
    publicKey,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

function derToBinary(der: Buffer): string {
  return der.toString('binary');
}

function binaryToBuffer(bytes: string): Buffer {
  return Buffer.from(bytes, 'binary');
}

/** DER → ASN.1, keeping BIT STRINGs opaque (forge would otherwise parse DER-looking
 * contents — an ECDSA signature is DER — and re-encode them differently). */
function parseDer(bytes: Buffer | string): forge.asn1.Asn1 {
  const fromDer = asn1.fromDer as unknown as (b: string, o: { decodeBitStrings: boolean }) => forge.asn1.Asn1;
  return fromDer(typeof bytes === 'string' ? bytes : derToBinary(bytes), { decodeBitStrings: false });
}

function spkiAsn1(publicKey: KeyObject): forge.asn1.Asn1 {
  return parseDer(publicKey.export({ type: 'spki', format: 'der' }));
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 §4.2.1.2 method 1). */
function keyIdentifier(publicKey: KeyObject): string {
  const spki = spkiAsn1(publicKey);
  const bits = (spki.value as forge.asn1.Asn1[])[1]!.value as string; // BIT STRING: unused-bits byte + key
  return createHash('sha1')
    .update(binaryToBuffer(bits.slice(1)))
    .digest('binary');
}

function ecdsaAlgorithm(): forge.asn1.Asn1 {
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(OID_ECDSA_SHA256).getBytes()),
  ]);
}

function signedStructure(tbs: forge.asn1.Asn1, key: KeyObject): Buffer {
  const tbsDer = binaryToBuffer(asn1.toDer(tbs).getBytes());
  const signature = sign('sha256', tbsDer, key); // DER-encoded ECDSA signature
  const whole = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbs,
    ecdsaAlgorithm(),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\u0000${derToBinary(signature)}`),
  ]);
  return binaryToBuffer(asn1.toDer(whole).getBytes());
}

export function derToPem(der: Buffer, label: 'CERTIFICATE' | 'CERTIFICATE REQUEST'): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export function pemToDer(pem: string, label: 'CERTIFICATE' | 'CERTIFICATE REQUEST'): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`).exec(pem);
  if (!m)
    throw new MtlsError(label === 'CERTIFICATE' ? 'BAD_CERT' : 'BAD_CSR', `no ${label} PEM block found`);
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64');
}

/** Splits a PEM bundle into one PEM string per certificate (each ending in a newline). */
export function splitPemBundle(bundle: string): string[] {
  return (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (p) => `${p}\n`,
  );
}

export interface CertTemplate {
  /** Subject attributes, e.g. [{shortName: 'O', value: 'cluster.local'}]; empty for workloads. */
  subject: { shortName: string; value: string }[];
  /** Issuer name as DER (from the CA certificate); omitted = self-signed (issuer = subject). */
  issuerDer?: Buffer;
  publicKey: KeyObject;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  /** URI SANs (SPIFFE ids); marked critical, since workload subjects are empty (RFC 5280). */
  uris?: string[];
  /** The issuer's public key, for the authority key identifier. */
  issuerPublicKey?: KeyObject;
  /** Serving certificates (the control plane's): DNS names and IP addresses. */
  dnsNames?: string[];
  ips?: string[];
}

/** Builds and signs a certificate; returns DER. */
export function createCertificate(t: CertTemplate, signingKey: KeyObject): Buffer {
  const cert = pki.createCertificate();
  // Positive 128-bit serial (top bit cleared so the DER INTEGER stays positive).
  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  cert.serialNumber = serial.toString('hex');
  cert.validity.notBefore = t.notBefore;
  cert.validity.notAfter = t.notAfter;
  cert.setSubject(t.subject);
  cert.setIssuer(t.subject);
  const ski = keyIdentifier(t.publicKey);
  // forge derives key identifiers from its own (RSA) key object: give it ours.
  cert.generateSubjectKeyIdentifier = () => forge.util.createBuffer(ski);
  const extensions: Record<string, unknown>[] = [
    { name: 'basicConstraints', cA: t.isCa, critical: true },
    t.isCa
      ? { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ];
  if (!t.isCa) extensions.push({ name: 'extKeyUsage', serverAuth: true, clientAuth: true });
  if (t.issuerPublicKey)
    extensions.push({ name: 'authorityKeyIdentifier', keyIdentifier: keyIdentifier(t.issuerPublicKey) });
  const altNames = [
    ...(t.uris ?? []).map((value) => ({ type: 6, value })),
    ...(t.dnsNames ?? []).map((value) => ({ type: 2, value })),
    ...(t.ips ?? []).map((ip) => ({ type: 7, ip })),
  ];
  // Critical when the subject is empty (workload certificates), as RFC 5280 requires.
  if (altNames.length > 0)
    extensions.push({ name: 'subjectAltName', critical: t.subject.length === 0, altNames });
  cert.setExtensions(extensions);
  // A placeholder RSA key lets forge lay out the TBSCertificate; its SubjectPublicKeyInfo
  // and the RSA-style algorithm parameters are replaced below.
  cert.publicKey = placeholderRsaKey();
  cert.siginfo.algorithmOid = OID_ECDSA_SHA256;
  // getTBSCertificate is exported by forge but missing from @types/node-forge.
  const tbs = (
    pki as unknown as { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }
  ).getTBSCertificate(cert);
  const fields = tbs.value as forge.asn1.Asn1[];
  // [0] version, [1] serial, [2] signature alg, [3] issuer, [4] validity, [5] subject, [6] spki
  fields[2] = ecdsaAlgorithm();
  if (t.issuerDer) fields[3] = parseDer(t.issuerDer);
  fields[6] = spkiAsn1(t.publicKey);
  return signedStructure(tbs, signingKey);
}

let placeholder: forge.pki.rsa.PublicKey | undefined;
function placeholderRsaKey(): forge.pki.rsa.PublicKey {
  placeholder ??= pki.setRsaPublicKey(
    new forge.jsbn.BigInteger('3', 10),
    new forge.jsbn.BigInteger('65537', 10),
  );
  return placeholder;
}

/** The subject Name of a certificate, as DER (to become the issuer of what it signs). */
export function subjectDer(cert: X509Certificate): Buffer {
  const tbs = (parseDer(cert.raw).value as forge.asn1.Asn1[])[0]!;
  const subject = (tbs.value as forge.asn1.Asn1[])[5]!;
  return binaryToBuffer(asn1.toDer(subject).getBytes());
}

/** A PKCS#10 CSR as ztunnel sends one (spec §2.2): empty subject, one critical URI SAN. */
export function createCsr(identity: string, key: KeyPair): string {
  const san = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 6, false, identity),
  ]);
  const extension = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(OID_SUBJECT_ALT_NAME).getBytes()),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BOOLEAN, false, '\u00ff'),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, asn1.toDer(san).getBytes()),
  ]);
  const info = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, '\u0000'),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, []), // empty subject
    spkiAsn1(key.publicKey),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(
          asn1.Class.UNIVERSAL,
          asn1.Type.OID,
          false,
          asn1.oidToDer(OID_EXTENSION_REQUEST).getBytes(),
        ),
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SET, true, [
          asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [extension]),
        ]),
      ]),
    ]),
  ]);
  return derToPem(signedStructure(info, key.privateKey), 'CERTIFICATE REQUEST');
}

export interface ParsedCsr {
  publicKey: KeyObject;
  /** URI SANs requested (informational: the CA decides the identity). */
  uris: string[];
}

/** Parses a PEM CSR and checks its self-signature (proof of possession of the key). */
export function parseCsr(pem: string): ParsedCsr {
  let der: Buffer;
  let parts: forge.asn1.Asn1[];
  try {
    der = pemToDer(pem, 'CERTIFICATE REQUEST');
    parts = parseDer(der).value as forge.asn1.Asn1[];
  } catch (err) {
    throw new MtlsError('BAD_CSR', `malformed CSR: ${(err as Error).message}`, { cause: err });
  }
  if (!Array.isArray(parts) || parts.length !== 3)
    throw new MtlsError('BAD_CSR', 'malformed CSR: not a PKCS#10 CertificationRequest');
  const [info, , sigBits] = parts as [forge.asn1.Asn1, forge.asn1.Asn1, forge.asn1.Asn1];
  const infoFields = info.value as forge.asn1.Asn1[];
  let publicKey: KeyObject;
  try {
    publicKey = createPublicKey({
      key: binaryToBuffer(asn1.toDer(infoFields[2]!).getBytes()),
      format: 'der',
      type: 'spki',
    });
  } catch (err) {
    throw new MtlsError('BAD_CSR', `CSR public key is unreadable: ${(err as Error).message}`, { cause: err });
  }
  if (publicKey.asymmetricKeyType !== 'ec' && publicKey.asymmetricKeyType !== 'rsa') {
    throw new MtlsError(
      'BAD_CSR',
      `CSR key type ${publicKey.asymmetricKeyType} is not supported (use EC P-256)`,
    );
  }
  const signature = binaryToBuffer((sigBits.value as string).slice(1));
  const ok = verify('sha256', binaryToBuffer(asn1.toDer(info).getBytes()), publicKey, signature);
  if (!ok) throw new MtlsError('BAD_CSR', 'CSR signature does not verify with its own public key');
  return { publicKey, uris: csrUris(infoFields[3]) };
}

function csrUris(attributes: forge.asn1.Asn1 | undefined): string[] {
  const uris: string[] = [];
  for (const attr of (attributes?.value as forge.asn1.Asn1[] | undefined) ?? []) {
    const [oid, set] = attr.value as forge.asn1.Asn1[];
    if (!oid || asn1.derToOid(oid.value as string) !== OID_EXTENSION_REQUEST) continue;
    for (const exts of (set?.value as forge.asn1.Asn1[]) ?? []) {
      for (const ext of exts.value as forge.asn1.Asn1[]) {
        const f = ext.value as forge.asn1.Asn1[];
        if (asn1.derToOid(f[0]!.value as string) !== OID_SUBJECT_ALT_NAME) continue;
        const names = parseDer(f[f.length - 1]!.value as string).value as forge.asn1.Asn1[];
        for (const n of names) if (n.type === 6) uris.push(n.value as string);
      }
    }
  }
  return uris;
}

/** URI SANs of a certificate (Node prints them as `URI:spiffe://…`). */
export function certificateUris(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}
