#!/usr/bin/env node
// The noisy neighbour of abuse.test.ts, in its own process (as on a real network, its own
// TLS and HTTP/2 work does not run on the server's thread): for FLOOD_MS it holds idle TCP
// connections that never handshake and opens sessions that reset every CONNECT at once, each
// CONNECT carrying a 4 KiB `forwarded` header, reconnecting after each GOAWAY. Prints the count.
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';

const { PORT, UPSTREAM, CERT, KEY, CA, FLOOD_MS } = process.env;
const port = Number(PORT);
const stopAt = Date.now() + Number(FLOOD_MS);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const idle = [];
for (let i = 0; i < 20; i++) {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  idle.push(s);
}
let n = 0;
while (Date.now() < stopAt) {
  const socket = tls.connect({
    host: '127.0.0.1',
    port,
    cert: CERT,
    key: KEY,
    ca: CA,
    ALPNProtocols: ['h2'],
    rejectUnauthorized: false,
  });
  const s = http2.connect(`https://127.0.0.1:${port}`, { createConnection: () => socket });
  s.on('error', () => {});
  const gone = new Promise((r) => {
    s.once('goaway', r);
    s.once('close', r);
  });
  await Promise.race([new Promise((r) => s.once('connect', r)), gone]);
  for (let i = 0; i < 150 && !s.destroyed && !s.closed; i++) {
    try {
      const st = s.request({
        ':method': 'CONNECT',
        ':authority': `127.0.0.1:${UPSTREAM}`,
        forwarded: `for="${'\\"'.repeat(2000)}`,
      });
      st.on('error', () => {});
      st.close(http2.constants.NGHTTP2_CANCEL);
      n++;
    } catch {
      break;
    }
    if (i % 25 === 0) await sleep(1);
  }
  await Promise.race([gone, sleep(300)]);
  s.destroy();
}
for (const s of idle) s.destroy();
process.stdout.write(String(n));
