#!/usr/bin/env node
// Control-plane benchmark (issue 10, case 6): 10,000 workloads and 1,000 services as
// istio.workload.Address resources, pushed by our xDS server to C Delta clients (what each
// ztunnel runs); time until every client has everything (and ACKed), then the time from one
// workload change to every client seeing it, and from a policy change (a new
// AuthorizationPolicy) to every client's ACK. The server runs in a process of its own; the clients
// are spread over P processes (default: one per core) — real ztunnels are processes on their
// own nodes, and 50 clients in one heap measure that heap's garbage collector more than xDS.
// Rounds (default 3): each connects a fresh set of clients; medians with the min–max spread.
//   node bench/xds-convergence.mjs [--workloads 10000] [--services 1000] [--clients 50] [--processes P] [--rounds 3]
import { fork } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TypeUrl } from '@ambient/proto';
import { istioTypes, XdsClient } from '@ambient/xds';
import { cpuSeconds, median } from './lib/measure.mjs';
import { writeResults } from './lib/report.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const W = arg('workloads', 10_000);
const S = arg('services', 1_000);
const C = arg('clients', 50);
const P = Math.min(C, arg('processes', os.cpus().length));
const ROUNDS = arg('rounds', 3);
const role = process.argv[2];
const CHANGED = 'Kubernetes//Pod/bench/w0';
const message = (child, want) =>
  new Promise((resolve) => {
    const on = (m) => {
      if (m?.type !== want) return;
      child.off('message', on);
      resolve(m);
    };
    child.on('message', on);
  });

if (role === 'server') {
  const { Address, Authorization } = await import('@ambient/proto');
  const { ResourceCache, XdsServer } = await import('@ambient/xds');
  const cache = new ResourceCache();
  const svcHost = (j) => `svc${j}.bench.svc.cluster.local`;
  const workload = (i, node) => ({
    workload: {
      uid: `Kubernetes//Pod/bench/w${i}`,
      name: `w${i}`,
      namespace: 'bench',
      node,
      addresses: [Uint8Array.of(10, 1 + (i >> 16), (i >> 8) & 255, i & 255)],
      tunnelProtocol: 1,
      serviceAccount: 'sa',
      canonicalName: `app${i % S}`,
      canonicalRevision: 'v1',
      services: { [`bench/${svcHost(i % S)}`]: { ports: [{ servicePort: 80, targetPort: 8080 }] } },
    },
  });
  const service = (j) => ({
    service: {
      name: `svc${j}`,
      namespace: 'bench',
      hostname: svcHost(j),
      addresses: [{ network: '', address: Uint8Array.of(10, 96, j >> 8, j & 255) }],
      ports: [{ servicePort: 80, targetPort: 8080 }],
    },
  });
  cache.replaceAll(
    Address,
    new Map([
      ...Array.from({ length: W }, (_, i) => [`Kubernetes//Pod/bench/w${i}`, workload(i, 'n1')]),
      ...Array.from({ length: S }, (_, j) => [`bench/${svcHost(j)}`, service(j)]),
    ]),
  );
  const server = new XdsServer({ cache, debounceMs: 10 });
  const port = await server.listen('127.0.0.1:0');
  process.send({ type: 'listening', port });
  process.on('message', (m) => {
    // Each round changes something anew: w0 moves to the other node; one more policy.
    if (m.type === 'change') cache.set(Address, CHANGED, workload(0, m.round % 2 ? 'n2' : 'n1'));
    if (m.type === 'policy')
      cache.set(Authorization, `bench/deny-w0-${m.round}`, {
        name: `deny-w0-${m.round}`,
        namespace: 'bench',
        scope: 1, // NAMESPACE
        action: 1, // DENY
        rules: [{ clauses: [{ matches: [{ destinationPorts: [9999] }] }] }],
      });
    if (m.type === 'stop') server.close().then(() => process.exit(0));
  });
} else if (role === 'clients') {
  // k clients in this process; times are wall-clock (Date.now) so the parent can compare them.
  const [, , , port, k, first] = process.argv.map(String);
  let clients = [];
  process.send({ type: 'loaded' });
  process.on('message', async (m) => {
    if (m.type === 'go') {
      for (const c of clients) c.close(); // the last round's
      clients = Array.from({ length: Number(k) }, (_, i) =>
        new XdsClient({
          address: `127.0.0.1:${port}`,
          node: { id: `bench-${Number(first) + i}` },
          types: [istioTypes.address, istioTypes.authorization],
        }).start(),
      );
      await Promise.all(clients.map((c) => c.ready));
      const missing = clients.filter((c) => c.size(TypeUrl.Address) !== W + S).length;
      process.send({ type: 'synced', at: Date.now(), missing, rssMb: process.memoryUsage().rss / 2 ** 20 });
    } else if (m.type === 'arm') {
      const seen = clients.map((c) => new Promise((r) => c.watch(TypeUrl.Address, CHANGED, r)));
      process.send({ type: 'armed' });
      await Promise.all(seen);
      process.send({ type: 'changed', at: Date.now() });
    } else if (m.type === 'arm-policy') {
      const acked = clients.map(
        (c) =>
          new Promise((r) => {
            const on = (typeUrl) => {
              if (typeUrl !== TypeUrl.Authorization) return;
              c.off('ack', on);
              r();
            };
            c.on('ack', on);
          }),
      );
      process.send({ type: 'armed' });
      await Promise.all(acked);
      process.send({
        type: 'acked',
        at: Date.now(),
        policies: clients.map((c) => c.size(TypeUrl.Authorization)),
      });
    } else if (m.type === 'stop') {
      for (const c of clients) c.close();
      process.exit(0);
    }
  });
} else {
  const say = (s) => console.log(`[xds-convergence] ${s}`);
  say(
    `${W} workloads + ${S} services (${W + S} Address resources) → ${C} Delta clients in ${P} processes (${os.cpus().length} cores, ${os.cpus()[0].model})`,
  );
  const self = fileURLToPath(import.meta.url);
  const server = fork(self, ['server', '--workloads', String(W), '--services', String(S)]);
  const { port } = await message(server, 'listening');
  const per = Array.from({ length: P }, (_, i) => Math.floor(C / P) + (i < C % P ? 1 : 0));
  // BENCH_CPU_PROF=<dir>: the client processes write V8 CPU profiles there.
  const execArgv = process.env.BENCH_CPU_PROF
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`]
    : [];
  const workers = per.map((k, i) =>
    fork(
      self,
      [
        'clients',
        String(port),
        String(k),
        String(per.slice(0, i).reduce((a, b) => a + b, 0)),
        '--workloads',
        String(W),
        '--services',
        String(S),
      ],
      { execArgv },
    ),
  );
  await Promise.all(workers.map((w) => message(w, 'loaded')));
  /** Arms every client process, makes the server change something, times the last report. */
  const timeChange = async (arm, change, report, round) => {
    await Promise.all(
      workers.map((w) => {
        w.send({ type: arm });
        return message(w, 'armed');
      }),
    );
    const t = Date.now();
    server.send({ type: change, round });
    const reports = await Promise.all(workers.map((w) => message(w, report)));
    return { ms: Math.max(...reports.map((r) => r.at)) - t, reports };
  };
  const rounds = [];
  for (let round = 1; round <= ROUNDS; round++) {
    say(`round ${round}/${ROUNDS}: connecting every client at once …`);
    const cpu0 = [server, ...workers].map((c) => cpuSeconds(c.pid));
    const t0 = Date.now();
    for (const w of workers) w.send({ type: 'go' });
    const synced = await Promise.all(workers.map((w) => message(w, 'synced')));
    const fullMs = Math.max(...synced.map((s) => s.at)) - t0;
    const [serverCpu, ...clientCpu] = [server, ...workers].map((c, i) => cpuSeconds(c.pid) - cpu0[i]);
    const missing = synced.reduce((a, s) => a + s.missing, 0);
    if (missing) throw new Error(`${missing} clients did not get every resource`);
    const { ms: changeMs } = await timeChange('arm', 'change', 'changed', round);
    const { ms: policyMs, reports: acked } = await timeChange('arm-policy', 'policy', 'acked', round);
    if (acked.some((a) => a.policies.some((n) => n !== round)))
      throw new Error('a client ACKed without the new policy');
    rounds.push({
      fullMs,
      changeMs,
      policyMs,
      cpuSeconds: { server: serverCpu, clientProcesses: clientCpu },
      clientCpu: clientCpu.reduce((a, b) => a + b, 0),
      perClientMb: synced.reduce((a, s) => a + s.rssMb, 0) / C,
      clientProcesses: synced,
    });
    say(`round ${round}/${ROUNDS}: full sync ${fullMs} ms, change ${changeMs} ms, policy ${policyMs} ms`);
  }
  const spread = (f, digits = 0) => {
    const xs = rounds.map(f);
    const med = median(xs).toFixed(digits);
    return xs.length > 1
      ? `${med} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`
      : med;
  };
  const rows = {
    'full sync to every client (ms)': { value: spread((r) => r.fullMs), target: '≤ 2000' },
    'one workload change to every client (ms)': { value: spread((r) => r.changeMs), target: '' },
    'policy change to every ACK (ms)': { value: spread((r) => r.policyMs), target: '' },
    'CPU-s during the full sync: server': { value: spread((r) => r.cpuSeconds.server, 2), target: '' },
    'CPU-s during the full sync: clients (all)': { value: spread((r) => r.clientCpu, 2), target: '' },
    'client process RSS per client (MB)': { value: spread((r) => r.perClientMb, 1), target: '' },
  };
  console.log('\nControl plane (medians of rounds, min–max):');
  console.table(rows);
  const file = writeResults(here, 'xds-convergence', {
    workloads: W,
    services: S,
    clients: C,
    processes: P,
    rows,
    rounds,
  });
  say(`raw samples: ${path.relative(process.cwd(), file)}`);
  await Promise.all(
    [...workers, server].map((w) => {
      const exited = new Promise((resolve) => w.once('exit', resolve));
      w.send({ type: 'stop' });
      return exited;
    }),
  );
}
