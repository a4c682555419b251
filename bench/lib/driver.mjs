#!/usr/bin/env node
// Load driver run inside a pod's network namespace by the lab benchmarks; prints one JSON line.
//   node driver.mjs bulk <host> <port> <bytes>
//   node driver.mjs latency <host> <port> <rate> <seconds> <connections>
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
} else {
  console.error('usage: driver.mjs bulk|latency …');
  process.exit(2);
}
process.exit(0);
