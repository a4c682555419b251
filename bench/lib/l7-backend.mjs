// The L7 benchmark's backend: 1 KB responses over keep-alive HTTP/1.1, served plain, over
// mutual TLS 1.3 (what nginx and haproxy dial in the "mutual TLS" rows), and inside HBONE
// tunnels (what our waypoint dials: a ztunnel's inbound, terminated in this process). The
// backend's CPU is not the proxies', so it is not counted; it runs in its own process.
//   node l7-backend.mjs <plainPort> [<certDir> <tlsPort> <hboneHost> <hbonePort>]
import http from 'node:http';
import https from 'node:https';
import { HboneServer } from '@ambient/hbone';
import { serverTlsOptions } from '@ambient/mtls';
import { asPlainDuplex } from '../../apps/waypoint/dist/upstream/duplex.js';
import { loadBenchCert } from './certs.mjs';

const [plainPort, certDir, tlsPort, hboneHost, hbonePort] = process.argv.slice(2);
const body = Buffer.alloc(1024, 120);
const respond = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length });
  res.end(body);
};
const plain = http.createServer({ keepAliveTimeout: 60_000 }, respond);
plain.listen(Number(plainPort), '127.0.0.1');
if (certDir) {
  const cert = loadBenchCert(certDir, 'backend');
  // HTTP/1.1 over mutual TLS 1.3: the HBONE options without the h2 ALPN.
  const { ALPNProtocols: _h2, ...tls } = serverTlsOptions(cert);
  https
    .createServer({ ...tls, minVersion: 'TLSv1.3', keepAliveTimeout: 60_000 }, respond)
    .listen(Number(tlsPort), '127.0.0.1');
  const hbone = new HboneServer({
    tls: serverTlsOptions(cert),
    trustDomain: 'cluster.local',
    handler: async () => ({
      status: 200,
      serve: (stream) => plain.emit('connection', asPlainDuplex(stream)),
    }),
  });
  await hbone.listen({ host: hboneHost, port: Number(hbonePort) });
}
process.on('SIGTERM', () => process.exit(0));
