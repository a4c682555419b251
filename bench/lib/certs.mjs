// Workload certificates for the benchmarks' peers and our own processes: EC P-256 from one of
// our CAs, SPIFFE URI SAN, written as PEM files (OpenSSL peers read files) and returned as a
// WorkloadCertificate (our processes build their TLS options from it).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createCsr, generateEcKey, Identity, splitPemBundle, toWorkloadCertificate } from '@ambient/mtls';

/**
 * Issues `spiffe://cluster.local/ns/bench/sa/<name>` and writes `<name>.pem` (leaf + chain),
 * `<name>-key.pem` and `root.pem` into `dir`.
 */
export function issueBenchCert(ca, dir, name) {
  const key = generateEcKey();
  const id = Identity.parse(`spiffe://cluster.local/ns/bench/sa/${name}`);
  const chain = ca.sign(createCsr(id.toString(), key), id);
  const files = {
    cert: path.join(dir, `${name}.pem`),
    key: path.join(dir, `${name}-key.pem`),
    root: path.join(dir, 'root.pem'),
  };
  writeFileSync(files.cert, chain.slice(0, -1).join(''));
  writeFileSync(files.key, key.privateKeyPem);
  writeFileSync(files.root, ca.rootPem);
  return { files, identity: id.toString(), workload: toWorkloadCertificate(id, key.privateKeyPem, chain) };
}

/** Reads back what issueBenchCert wrote (for a child process given `dir` and `name`). */
export function loadBenchCert(dir, name) {
  const id = Identity.parse(`spiffe://cluster.local/ns/bench/sa/${name}`);
  const chain = [
    ...splitPemBundle(readFileSync(path.join(dir, `${name}.pem`), 'utf8')),
    readFileSync(path.join(dir, 'root.pem'), 'utf8'),
  ];
  return toWorkloadCertificate(id, readFileSync(path.join(dir, `${name}-key.pem`), 'utf8'), chain);
}
