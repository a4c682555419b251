#!/usr/bin/env node
// Benchmark (not a test): L4 on the in-box cluster, as the benchmark issue describes — a pod
// on node 1 → a pod on node 2: direct TCP (the ceiling), a stunnel4 mutual-TLS 1.3 pair on
// the two nodes (the C/OpenSSL peer), and our two ztunnels with in-pod capture (the app just
// connects to the pod IP). Alternating, medians of rounds; JSON with every sample.
//   node bench/lab-l4.mjs [--quick] [--rounds N] [--hold 1000,10000]      (root)
//   BENCH_CPU_PROF=<dir> node bench/lab-l4.mjs …      ztunnels write CPU profiles to <dir>
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CertificateAuthority } from '@ambient/mtls';
import {
  Lab,
  labSupported,
  podManifest,
  Supervisor,
  startLabController,
  startLabZtunnel,
  testkitCli,
} from '@ambient/testkit';
import { cpuSeconds, rssMb, settledRssMb } from './lib/measure.mjs';
import { printSummary, summarize, writeResults } from './lib/report.mjs';
import { startStunnelPair } from './lib/stunnel.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.join(here, '..');
const quick = process.argv.includes('--quick');
const ri = process.argv.indexOf('--rounds');
const ROUNDS = ri > 0 ? Number(process.argv[ri + 1]) : quick ? 1 : 3;
const hi = process.argv.indexOf('--hold');
const HOLD = hi > 0 ? process.argv[hi + 1].split(',').map(Number) : quick ? [1000] : [1000, 10_000];
const BULK = (quick ? 256 : 1024) * 1024 * 1024;
const SECONDS = quick ? 3 : 15;
const say = (m) => process.stdout.write(`${m}\n`);

const support = await labSupported();
if (!support.ok) {
  console.error(`lab benchmark needs root: ${support.reason}`);
  process.exit(1);
}
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-lab-'));
const sup = new Supervisor(path.join(dir, 'logs'));
let lab;
try {
  say(
    `L4 on the in-box cluster — ${ROUNDS} rounds, ${BULK / 2 ** 20} MiB per flow, 1,000 req/s × ${SECONDS} s; ${os.cpus().length} × ${os.cpus()[0].model}`,
  );
  lab = await Lab.create({
    prefix: 'amb-bench',
    nodes: [
      // Enrolled pair (through the ztunnels) and a plain pair (direct, stunnel) on the same nodes.
      {
        name: 'node1',
        pods: [
          { name: 'client', namespace: 'bench' },
          { name: 'plain-client', namespace: 'plain' },
        ],
      },
      {
        name: 'node2',
        pods: [
          { name: 'server', namespace: 'bench' },
          { name: 'plain-server', namespace: 'plain' },
        ],
      },
    ],
  });
  const server = lab.pod('server');
  const plainServer = lab.pod('plain-server');
  say('• apps: sink :9000 and 1 KB HTTP :9080 in both server pods');
  const http1k =
    "require('http').createServer((q,s)=>{s.writeHead(200,{'content-length':1024});s.end(Buffer.alloc(1024,97))}).listen(9080,()=>console.log('up'))";
  for (const pod of [server, plainServer]) {
    await sup.start({
      name: `sink-${pod.name}`,
      command: process.execPath,
      args: [testkitCli, 'tcp-sink', '--port', '9000'],
      netns: pod.netns,
      ready: { tcp: 9000 },
    });
    await sup.start({
      name: `http-${pod.name}`,
      command: process.execPath,
      args: ['-e', http1k],
      netns: pod.netns,
      ready: { tcp: 9080 },
    });
  }

  // stunnel pair on the nodes: client side listens on node1's pod gateway, server side on node2's underlay.
  say('• stunnel4 mutual-TLS 1.3 pair on the two nodes');
  const n1 = lab.node('node1');
  const n2 = lab.node('node2');
  const stunnel = await startStunnelPair(sup, {
    dir: path.join(dir, 'stunnel'),
    ca: await CertificateAuthority.loadOrCreate(path.join(dir, 'stunnel-ca')),
    server: {
      netns: n2.netns,
      services: [
        ['bulk', `${n2.underlayIp}:7001`, `${plainServer.ip}:9000`],
        ['http', `${n2.underlayIp}:7081`, `${plainServer.ip}:9080`],
      ],
      ready: { tcp: 7081 },
    },
    client: {
      netns: n1.netns,
      services: [
        ['bulk', `${n1.gatewayIp}:7000`, `${n2.underlayIp}:7001`],
        ['http', `${n1.gatewayIp}:7080`, `${n2.underlayIp}:7081`],
      ],
      ready: { tcp: 7080 },
    },
  });

  const driver = path.join(here, 'lib', 'driver.mjs');
  const drive = async (from, ...args) =>
    JSON.parse((await lab.exec(from, process.execPath, [driver, ...args], { timeoutMs: 120_000 })).stdout);
  const paths = {
    direct: {
      from: 'plain-client',
      bulk: [plainServer.ip, 9000],
      http: [plainServer.ip, 9080],
      pids: () => [],
    },
    stunnel: {
      from: 'plain-client',
      bulk: [n1.gatewayIp, 7000],
      http: [n1.gatewayIp, 7080],
      pids: () => [stunnel.client.pid, stunnel.server.pid],
    },
  };

  const measure = async (p) => {
    const pids = p.pids();
    const c0 = pids.map(cpuSeconds);
    const bulk = await drive(p.from, 'bulk', ...p.bulk.map(String), String(BULK));
    const perGiB = pids.map((pid, i) => (cpuSeconds(pid) - c0[i]) / (BULK / 2 ** 30));
    const c1 = pids.map(cpuSeconds);
    const lat = await drive(p.from, 'latency', ...p.http.map(String), '1000', String(SECONDS), '4');
    const per10k = pids.map((pid, i) => ((cpuSeconds(pid) - c1[i]) / lat.requests) * 10_000);
    const conn = await drive(p.from, 'connrate', ...p.http.map(String), String(quick ? 2 : 5), '8');
    return {
      connPerSec: conn.perSecond,
      connErrors: conn.errors,
      gbps: (bulk.mibPerSec * 8 * 1.048576) / 1000,
      cpuPerGiB: perGiB,
      cpuPer10k: per10k,
      rssMb: pids.map(rssMb),
      ...lat,
    };
  };
  const samples = { direct: [], stunnel: [], ztunnel: [] };
  let ztunnels = [];

  // The mesh: controller in the underlay namespace, ztunnels with in-pod capture.
  say('• controller and two ztunnels (in-pod capture) for the mesh rounds');
  const configDir = path.join(dir, 'config');
  mkdirSync(configDir);
  writeFileSync(
    path.join(configDir, 'cluster.yaml'),
    [
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: bench, labels: {istio.io/dataplane-mode: ambient}}',
      podManifest(lab.pod('client'), { serviceAccount: 'client', labels: { app: 'client' } }),
      podManifest(server, { serviceAccount: 'server', labels: { app: 'server' } }),
    ].join('\n---\n'),
  );
  await startLabController(sup, lab, {
    entry: path.join(root, 'apps', 'controller', 'dist', 'main.js'),
    configDir,
    caDir: path.join(dir, 'ca'),
    env: { LOG_LEVEL: 'warn' },
  });
  const startZ = (node) =>
    startLabZtunnel(sup, lab, node, {
      entry: path.join(root, 'apps', 'ztunnel', 'dist', 'main.js'),
      caDir: path.join(dir, 'ca'),
      env: {
        LOG_LEVEL: 'warn',
        TERMINATION_GRACE_PERIOD_SECONDS: '1',
      },
      // BENCH_CPU_PROF=<dir>: each ztunnel writes a V8 CPU profile there when it stops;
      // BENCH_ZTUNNEL_NODE_ARGS: extra node options for the ztunnels (experiments).
      nodeArgs: [
        ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
        ...(process.env.BENCH_ZTUNNEL_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      ],
    });
  ztunnels = [await startZ('node1'), await startZ('node2')];
  const idleRss = await settledRssMb(ztunnels.map((z) => z.pid));
  say(`  ztunnel RSS idle: ${idleRss.map((m) => m.toFixed(0)).join(' / ')} MB`);
  paths.ztunnel = {
    from: 'client',
    bulk: [server.ip, 9000],
    http: [server.ip, 9080],
    pids: () => ztunnels.map((z) => z.pid),
  };

  for (let r = 0; r < ROUNDS; r++) {
    for (const name of r % 2 ? ['ztunnel', 'stunnel', 'direct'] : ['direct', 'stunnel', 'ztunnel']) {
      const s = await measure(paths[name]);
      samples[name].push(s);
      say(
        `  round ${r + 1} ${name.padEnd(8)} ${s.gbps.toFixed(2)} Gbit/s  p50 ${s.p50.toFixed(2)} ms  p99 ${s.p99.toFixed(2)} ms  (${s.requests} req, ${s.errors} errors)`,
      );
    }
  }
  // Memory per open tunnelled connection: n idle connections held through each path.
  const memory = { idleMb: idleRss, held: [] };
  for (const n of HOLD) {
    for (const name of ['stunnel', 'ztunnel']) {
      const p = paths[name];
      // Settled readings on both sides of the hold: garbage from the phase before is not
      // counted against the connections (the same for stunnel and ztunnel).
      const before = await settledRssMb(p.pids());
      const holder = await sup.start({
        name: `hold-${name}-${n}`,
        command: process.execPath,
        args: [driver, 'hold', ...p.bulk.map(String), String(n)],
        netns: lab.pod(p.from).netns,
        ready: { log: /holding \d+/ },
        readyTimeoutMs: 120_000,
      });
      const during = await settledRssMb(p.pids());
      // BENCH_HEAP_SNAPSHOT=1 (with BENCH_ZTUNNEL_NODE_ARGS=--heapsnapshot-signal=SIGUSR2): each
      // ztunnel writes a heap snapshot (into its working directory) while the connections are held.
      if (process.env.BENCH_HEAP_SNAPSHOT && name === 'ztunnel' && n === HOLD.at(-1)) {
        for (const pid of p.pids()) process.kill(pid, 'SIGUSR2');
        await new Promise((r) => setTimeout(r, 15_000));
      }
      await holder.stop();
      const perConnKb = during.map((mb, i) => ((mb - before[i]) * 1024) / n);
      memory.held.push({ path: name, connections: n, rssMb: during, perConnKb });
      say(
        `  ${name.padEnd(8)} ${n} open connections: RSS ${during.map((m) => m.toFixed(0)).join(' / ')} MB (${perConnKb.map((k) => k.toFixed(1)).join(' / ')} KB per connection per side)`,
      );
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  const summary = summarize(samples);
  printSummary(say, summary);
  say('\nMemory (each side):');
  console.table(
    Object.fromEntries([
      ['ztunnel idle', { 'RSS MB': idleRss.map((m) => m.toFixed(0)).join(' / '), 'KB per connection': '-' }],
      ...memory.held.map((h) => [
        `${h.path} ${h.connections} conns`,
        {
          'RSS MB': h.rssMb.map((m) => m.toFixed(0)).join(' / '),
          'KB per connection': h.perConnKb.map((k) => k.toFixed(1)).join(' / '),
        },
      ]),
    ]),
  );
  const file = writeResults(here, 'lab-l4', { quick, rounds: ROUNDS, rows: summary.rows, samples, memory });
  say(`raw samples: ${path.relative(process.cwd(), file)}`);
} finally {
  await sup.stopAll(3000);
  await lab?.destroy();
}
process.exit(0);
