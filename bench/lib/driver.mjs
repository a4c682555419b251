#!/usr/bin/env node
// Load driver run inside a pod's network namespace by the lab benchmarks; prints one JSON line.
//   node driver.mjs bulk <host> <port> <bytes>
//   node driver.mjs latency <host> <port> <rate> <seconds> <connections>
//   node driver.mjs connrate <host> <port> <seconds> <concurrency>   (short HTTP connections)
//   node driver.mjs hold <host> <port> <n>     (opens n connections, prints "holding n", waits)
import net from 'node:net';
import { bulkSend, connectTcp, pacedHttp } from './measure.mjs';

const [mode, host, port, ...rest] = process.argv.slice(2);
if (mode === 'bulk') {
  const r = await bulkSend(await connectTcp(host, Number(port)), Number(rest[0]), 60_000);
  console.log(JSON.stringify(r));
} else if (mode === 'latency') {
  const [rate, seconds, conns] = rest.map(Number);
  const socks = await Promise.all(Array.from({ length: conns }, () => connectTcp(host, Number(port))));
  const r = await pacedHttp(socks, { rate, seconds });
  for (const s of socks) s.destroy();
  console.log(JSON.stringify(r));
} else if (mode === 'connrate') {
  // New TCP connection per request (Connection: close): the cost of setting up a connection
  // through the path (for ztunnel: a new HBONE stream, the session pooled).
  const [seconds, concurrency] = rest.map(Number);
  const until = performance.now() + seconds * 1000;
  let done = 0;
  let errors = 0;
  const one = () =>
    new Promise((resolve) => {
      const s = net.connect({ host, port: Number(port) });
      let got = 0;
      s.on('connect', () => s.write('GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n'));
      s.on('data', (d) => {
        got += d.length;
      });
      s.on('close', () => {
        if (got > 0) done++;
        else errors++;
        resolve();
      });
      s.on('error', () => {});
      s.setTimeout(5000, () => s.destroy());
    });
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) await one();
    }),
  );
  console.log(JSON.stringify({ connections: done, perSecond: done / seconds, errors }));
} else if (mode === 'hold') {
  // Opens n idle connections (batches of 200) and keeps them until killed.
  const n = Number(rest[0]);
  const socks = [];
  while (socks.length < n) {
    const batch = Math.min(200, n - socks.length);
    socks.push(...(await Promise.all(Array.from({ length: batch }, () => connectTcp(host, Number(port))))));
  }
  for (const s of socks) s.on('error', () => {});
  console.log(`holding ${socks.length}`);
  await new Promise(() => {});
} else {
  console.error('usage: driver.mjs bulk|latency|connrate|hold …');
  process.exit(2);
}
process.exit(0);
