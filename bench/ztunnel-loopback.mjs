#!/usr/bin/env node
// Benchmark (not a test): the ztunnel data path on loopback, side by side with a stunnel4
// mutual-TLS 1.3 tunnel pair (the C/OpenSSL peer) and with direct TCP, in one run,
// alternating, medians of the rounds. First version of the L4 rows of the benchmark issue;
// the in-box cluster version (in-pod capture, two nodes) follows with the capture work.
//   node bench/ztunnel-loopback.mjs [--quick] [--rounds N]
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CaService, CertificateAuthority, staticAllowList } from '@ambient/mtls';
import { Address } from '@ambient/proto';
import { deployedNodeOptions, Supervisor, socksConnect, testkitCli } from '@ambient/testkit';
import { ResourceCache, XdsServer } from '@ambient/xds';
import * as grpc from '@grpc/grpc-js';
import { bulkSend, connectTcp, cpuSeconds, pacedHttp, rssMb } from './lib/measure.mjs';
import { printSummary, summarize, writeResults } from './lib/report.mjs';
import { startStunnelPair } from './lib/stunnel.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const ri = process.argv.indexOf('--rounds');
const ROUNDS = ri > 0 ? Number(process.argv[ri + 1]) : 3;
const BULK = (quick ? 128 : 512) * 1024 * 1024;
const LAT_SECONDS = quick ? 3 : 15;
const RATE = 1000;
const CLIENT = '127.0.10.1';
const SERVER = '127.0.20.1';
const say = (m) => process.stdout.write(`${m}\n`);

const work = mkdtempSync(path.join(os.tmpdir(), 'bench-l4-'));
const sup = new Supervisor(path.join(work, 'logs'));
const cleanup = [];
process.on('SIGINT', async () => {
  await sup.stopAll(1000);
  process.exit(130);
});

try {
  say(
    `ztunnel L4 bench on loopback — ${ROUNDS} rounds, ${BULK / 1048576} MiB per throughput run, ${RATE} req/s for ${LAT_SECONDS} s per latency run`,
  );
  say(`machine: ${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}`);

  // Apps on the server workload's address: a sink (its own process) and a 1 KB HTTP server.
  say('• starting apps (sink, 1 KB HTTP) …');
  await sup.start({
    name: 'sink',
    command: process.execPath,
    args: [testkitCli, 'tcp-sink', '--port', '9000', '--host', SERVER],
    ready: { tcp: 9000, host: SERVER },
  });
  const httpScript =
    "require('http').createServer((q,s)=>{s.writeHead(200,{'content-length':1024});s.end(Buffer.alloc(1024,97))}).listen(9080,process.argv[1],()=>console.log('up'))";
  await sup.start({
    name: 'http-1k',
    command: process.execPath,
    args: ['-e', httpScript, SERVER],
    ready: { tcp: 9080, host: SERVER },
  });

  // Control plane: xDS + CA in this process.
  say('• starting the control plane and two ztunnels …');
  const cache = new ResourceCache();
  const xds = new XdsServer({ cache, debounceMs: 5 });
  const xdsPort = await xds.listen('127.0.0.1:0');
  cleanup.push(() => xds.close());
  const ca = await CertificateAuthority.loadOrCreate(path.join(work, 'ca'));
  const caServer = new grpc.Server();
  new CaService({ ca, authorize: staticAllowList({ bench: ['spiffe://cluster.local/ns/bench/*'] }) }).addTo(
    caServer,
  );
  const caPort = await new Promise((res, rej) =>
    caServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? rej(e) : res(p),
    ),
  );
  cleanup.push(() => caServer.forceShutdown());
  const wl = (name, ip, node) => ({
    workload: {
      uid: `Kubernetes//Pod/bench/${name}`,
      name,
      namespace: 'bench',
      addresses: [Uint8Array.from(ip.split('.').map(Number))],
      tunnelProtocol: 1,
      serviceAccount: name,
      node,
    },
  });
  cache.set(Address, 'Kubernetes//Pod/bench/client', wl('client', CLIENT, 'node1'));
  cache.set(Address, 'Kubernetes//Pod/bench/server', wl('server', SERVER, 'node2'));
  const ztMain = path.join(here, '..', 'apps', 'ztunnel', 'dist', 'main.js');
  const zt = {};
  for (const [node, host] of [
    ['node1', '127.0.1.1'],
    ['node2', '127.0.1.2'],
  ]) {
    zt[node] = await sup.start({
      name: `ztunnel-${node}`,
      command: process.execPath,
      // BENCH_CPU_PROF=<dir>: CPU profiles of both ztunnels, written when they stop.
      args: [
        // The V8 options the image runs the ztunnel with (apps/ztunnel/node-options).
        ...deployedNodeOptions(ztMain),
        ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
        ztMain,
      ],
      env: {
        NODE_NAME: node,
        XDS_ADDRESS: `http://127.0.0.1:${xdsPort}`,
        CA_ADDRESS: `http://127.0.0.1:${caPort}`,
        AUTH_TOKEN: 'bench',
        UNSTABLE_ENABLE_SOCKS5: 'true',
        AMBIENT_SOCKS5_ADDR: `${host}:15080`,
        AMBIENT_ADMIN_ADDR: `${host}:15000`,
        AMBIENT_STATS_ADDR: `${host}:15020`,
        AMBIENT_READINESS_ADDR: `${host}:15021`,
        LOG_LEVEL: 'warn',
        TERMINATION_GRACE_PERIOD_SECONDS: '1',
      },
      ready: { http: `http://${host}:15021/healthz/ready` },
    });
  }

  // stunnel pair with certificates from the same CA (EC P-256, TLS 1.3, client certs verified).
  say('• starting the stunnel4 mutual-TLS pair …');
  const stunnel = await startStunnelPair(sup, {
    dir: path.join(work, 'stunnel'),
    ca,
    server: {
      services: [
        ['bulk', '127.0.2.2:7001', `${SERVER}:9000`],
        ['http', '127.0.2.2:7081', `${SERVER}:9080`],
      ],
      ready: { tcp: 7081, host: '127.0.2.2' },
    },
    client: {
      services: [
        ['bulk', '127.0.2.1:7000', '127.0.2.2:7001'],
        ['http', '127.0.2.1:7080', '127.0.2.2:7081'],
      ],
      ready: { tcp: 7080, host: '127.0.2.1' },
    },
  });

  const paths = {
    direct: { connect: (port) => connectTcp(SERVER, port, CLIENT), pids: [] },
    stunnel: {
      connect: (port) => connectTcp('127.0.2.1', port === 9000 ? 7000 : 7080, CLIENT),
      pids: [stunnel.client.pid, stunnel.server.pid],
    },
    ztunnel: {
      connect: (port) =>
        socksConnect({
          proxyHost: '127.0.1.1',
          proxyPort: 15080,
          localAddress: CLIENT,
          dstIp: SERVER,
          dstPort: port,
        }),
      pids: [zt.node1.pid, zt.node2.pid],
    },
  };
  // Warm up each path (TLS sessions, certificates, JIT).
  for (const p of Object.values(paths)) {
    await bulkSend(await p.connect(9000), 16 * 1024 * 1024);
    const socks = await Promise.all([0, 1, 2, 3].map(() => p.connect(9080)));
    await pacedHttp(socks, { rate: 400, seconds: 1 });
    for (const s of socks) s.destroy();
  }

  const samples = { direct: [], stunnel: [], ztunnel: [] };
  for (let r = 0; r < ROUNDS; r++) {
    const order = Object.keys(paths);
    if (r % 2) order.reverse();
    for (const name of order) {
      const p = paths[name];
      const cpu0 = p.pids.map(cpuSeconds);
      const bulk = await bulkSend(await p.connect(9000), BULK);
      const cpuBulk = p.pids.map((pid, i) => (cpuSeconds(pid) - cpu0[i]) / (bulk.bytes / 2 ** 30));
      const socks = await Promise.all([0, 1, 2, 3].map(() => p.connect(9080)));
      const cpu1 = p.pids.map(cpuSeconds);
      const lat = await pacedHttp(socks, { rate: RATE, seconds: LAT_SECONDS });
      const cpuLat = p.pids.map((pid, i) => ((cpuSeconds(pid) - cpu1[i]) / lat.requests) * 10_000);
      for (const s of socks) s.destroy();
      const rss = p.pids.map(rssMb);
      samples[name].push({
        gbps: (bulk.mibPerSec * 8 * 1.048576) / 1000,
        cpuPerGiB: cpuBulk,
        ...lat,
        cpuPer10k: cpuLat,
        rssMb: rss,
      });
      say(
        `  round ${r + 1} ${name.padEnd(8)} ${((bulk.mibPerSec * 8 * 1.048576) / 1000).toFixed(2)} Gbit/s  p50 ${lat.p50.toFixed(2)} ms  p99 ${lat.p99.toFixed(2)} ms  (${lat.requests} req, ${lat.errors} errors)`,
      );
    }
  }

  const summary = summarize(samples);
  printSummary(say, summary);
  const file = writeResults(here, 'ztunnel-loopback', { quick, rounds: ROUNDS, rows: summary.rows, samples });
  say(`raw samples: ${path.relative(process.cwd(), file)}`);
} finally {
  await sup.stopAll(2000);
  for (const c of cleanup.reverse()) await c();
}
process.exit(0);
