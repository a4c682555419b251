#!/usr/bin/env node
// The attacker, run inside a lab pod's namespace by the attack suite: one attempt per call,
// printed as one JSON line. It speaks the wire protocols from the spec with Node's own TLS
// and HTTP/2 (not our HBONE client), so it can present any credential or none, write any
// header, and aim a CONNECT anywhere (shared spec ztunnel.md §1.2–§1.3, §2.3, §3.1).
//
//   hbone  {host, port, authority, cert?, key?, headers?, send?}  → {tls, status?, reply?} | {error}
//   plain  {host, port, send, localAddress?}                      → {reply, bytes}
//   ca     {address, root, identity, token?, impersonate}         → {result}
//   xds    {address, root, token?, metadata}                      → {addresses} | {error}
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { CaClient, Identity } from '@ambient/mtls';
import { TypeUrl } from '@ambient/proto';
import { istioTypes, XdsClient } from '@ambient/xds';

const [cmd, json] = process.argv.slice(2);
const a = JSON.parse(json ?? '{}');
const TIMEOUT_MS = a.timeoutMs ?? 4000;
const print = (o) => {
  process.stdout.write(`${JSON.stringify(o)}\n`);
  process.exit(0);
};
setTimeout(() => print({ error: 'timeout' }), TIMEOUT_MS + 1000).unref();

function hbone() {
  const socket = tls.connect({
    host: a.host,
    port: a.port,
    ALPNProtocols: ['h2'],
    rejectUnauthorized: false, // the attacker does not care who the server is
    minVersion: 'TLSv1.3',
    ...(a.cert ? { cert: readFileSync(a.cert), key: readFileSync(a.key) } : {}),
  });
  socket.once('error', (e) => print({ tls: 'refused', error: e.code ?? e.message }));
  socket.once('secureConnect', () => {
    const session = http2.connect(`https://${a.host}:${a.port}`, { createConnection: () => socket });
    session.on('error', (e) => print({ tls: 'ok', error: e.code ?? e.message }));
    session.on('close', () => print({ tls: 'ok', error: 'session closed' }));
    const stream = session.request({ ':method': 'CONNECT', ':authority': a.authority, ...(a.headers ?? {}) });
    stream.on('error', (e) => print({ tls: 'ok', error: e.code ?? e.message }));
    stream.once('response', (h) => {
      const status = h[':status'];
      if (status !== 200 || !a.send) return print({ tls: 'ok', status });
      let reply = '';
      stream.on('data', (c) => {
        reply += c.toString('latin1');
      });
      stream.on('end', () => print({ tls: 'ok', status, reply }));
      stream.write(a.send);
      setTimeout(() => print({ tls: 'ok', status, reply }), 1500);
    });
  });
}

function plain() {
  const s = net.connect(
    { port: a.port, host: a.host, ...(a.localAddress ? { localAddress: a.localAddress } : {}) },
    () => s.write(a.send),
  );
  const chunks = [];
  s.on('data', (c) => chunks.push(c));
  const done = () => {
    const buf = Buffer.concat(chunks);
    print({ reply: buf.toString('latin1'), bytes: buf.length });
  };
  s.on('error', done);
  s.on('close', done);
  setTimeout(done, 2000);
}

async function ca() {
  const client = new CaClient({
    address: a.address,
    tls: { rootCert: readFileSync(a.root) },
    impersonate: a.impersonate,
    headers: () => (a.token ? { authorization: `Bearer ${readFileSync(a.token, 'utf8').trim()}` } : {}),
    timeoutMs: TIMEOUT_MS,
  });
  try {
    const cert = await client.fetchCertificate(Identity.parse(a.identity));
    print({ result: `issued ${cert.identity}` });
  } catch (err) {
    print({ result: String(err.message) });
  }
}

function xds() {
  const client = new XdsClient({
    address: a.address,
    node: { id: `ztunnel~10.0.0.9~attacker.${a.metadata.NAMESPACE}~svc`, metadata: a.metadata },
    types: [istioTypes.address, istioTypes.authorization],
    tls: { rootCert: readFileSync(a.root) },
    headers: () => (a.token ? { authorization: `Bearer ${readFileSync(a.token, 'utf8').trim()}` } : {}),
  });
  client.on('stream-end', (e) => print({ error: e.details }));
  client.once('ready', () => print({ addresses: client.list(TypeUrl.Address).size }));
  client.start();
}

if (cmd === 'hbone') hbone();
else if (cmd === 'plain') plain();
else if (cmd === 'ca') await ca();
else if (cmd === 'xds') xds();
else print({ error: `unknown command ${cmd}` });
