#!/usr/bin/env node
import { mkdtempSync } from 'node:fs';
// Benchmark (not a test): CSRs signed per second on one core (the CA's hot path), and
// TLS 1.3 mutual handshakes per second with these EC P-256 certificates, on loopback.
//   node bench/mtls.mjs [--seconds 5]
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import {
  CertificateAuthority,
  clientTlsOptions,
  createCsr,
  generateEcKey,
  Identity,
  serverTlsOptions,
  toWorkloadCertificate,
} from '@ambient/mtls';

const i = process.argv.indexOf('--seconds');
const seconds = i > 0 ? Number(process.argv[i + 1]) : 5;
console.log(
  `mtls bench: ${seconds} s per case, ${os.cpus().length} cores (${os.cpus()[0].model}), Node ${process.version}`,
);

const ca = await CertificateAuthority.loadOrCreate(mkdtempSync(path.join(os.tmpdir(), 'bench-ca-')));
const id = Identity.parse('spiffe://cluster.local/ns/bench/sa/web');

// 1. CA signing: CSR parse + verify + certificate build + ECDSA sign (CSR made beforehand).
const csrs = Array.from({ length: 200 }, () => createCsr(id.toString(), generateEcKey()));
let signed = 0;
let t0 = performance.now();
while (performance.now() - t0 < seconds * 1000) {
  ca.sign(csrs[signed % csrs.length], id);
  signed++;
}
const signRate = signed / ((performance.now() - t0) / 1000);

// 2. Client side of a certificate fetch: key generation + CSR.
let made = 0;
t0 = performance.now();
while (performance.now() - t0 < seconds * 1000) {
  createCsr(id.toString(), generateEcKey());
  made++;
}
const csrRate = made / ((performance.now() - t0) / 1000);

// 3. Mutual TLS 1.3 handshakes, sequential, client and server in this process.
const issue = (name) => {
  const k = generateEcKey();
  const ident = Identity.parse(`spiffe://cluster.local/ns/bench/sa/${name}`);
  return toWorkloadCertificate(ident, k.privateKeyPem, ca.sign(createCsr(ident.toString(), k), ident));
};
const serverCert = issue('server');
const clientCert = issue('client');
const server = tls.createServer(serverTlsOptions(serverCert), (s) => s.end());
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const port = server.address().port;
const opts = clientTlsOptions(clientCert, [serverCert.identity.toString()]);
let handshakes = 0;
t0 = performance.now();
while (performance.now() - t0 < seconds * 1000) {
  await new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...opts }, () => {
      handshakes++;
      s.destroy();
      resolve();
    });
    s.once('error', reject);
  });
}
const hsRate = handshakes / ((performance.now() - t0) / 1000);
server.close();

console.table({
  'CA: CSRs signed / s (one core)': { value: Math.round(signRate), target: '≥ 500' },
  'client: key + CSR / s': { value: Math.round(csrRate), target: '' },
  'mutual TLS 1.3 handshakes / s (both ends, one process)': { value: Math.round(hsRate), target: '' },
});
