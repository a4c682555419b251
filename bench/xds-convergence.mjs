#!/usr/bin/env node
// Benchmark (not a test): convergence of N istio.workload.Address resources to C Delta
// clients, and of one change to all of them. The server runs in a child process so the
// clients and the server do not share one event loop.
//   node bench/xds-convergence.mjs [--resources 10000] [--clients 100]
import { fork } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { TypeUrl } from '@ambient/proto';
import { istioTypes, XdsClient } from '@ambient/xds';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const N = arg('resources', 10_000);
const C = arg('clients', 100);

if (process.argv[2] === 'server') {
  const { Address } = await import('@ambient/proto');
  const { ResourceCache, XdsServer } = await import('@ambient/xds');
  const cache = new ResourceCache();
  const wl = (i, node) => ({
    workload: {
      uid: `Kubernetes//Pod/bench/w${i}`,
      name: `w${i}`,
      namespace: 'bench',
      node,
      addresses: [Uint8Array.of(10, 1 + (i >> 16), (i >> 8) & 255, i & 255)],
      tunnelProtocol: 1,
      serviceAccount: 'sa',
      canonicalName: 'app',
      canonicalRevision: 'v1',
      services: { 'bench/svc.bench.svc.cluster.local': { ports: [{ servicePort: 80, targetPort: 8080 }] } },
    },
  });
  cache.replaceAll(
    Address,
    new Map(Array.from({ length: N }, (_, i) => [`Kubernetes//Pod/bench/w${i}`, wl(i, 'n1')])),
  );
  const server = new XdsServer({ cache, debounceMs: 10 });
  const port = await server.listen('127.0.0.1:0');
  process.send({ port });
  process.on('message', (m) => {
    if (m === 'change') cache.set(Address, 'Kubernetes//Pod/bench/w0', wl(0, 'n2'));
    if (m === 'stop') server.close().then(() => process.exit(0));
  });
} else {
  console.log(
    `xDS convergence: ${N} Address resources → ${C} Delta clients (${os.cpus().length} cores, ${os.cpus()[0].model})`,
  );
  const child = fork(fileURLToPath(import.meta.url), ['server', '--resources', String(N)]);
  const { port } = await new Promise((r) => child.once('message', r));
  const t0 = performance.now();
  const clients = Array.from({ length: C }, (_, i) =>
    new XdsClient({
      address: `127.0.0.1:${port}`,
      node: { id: `bench-${i}` },
      types: [istioTypes.address, istioTypes.authorization],
    }).start(),
  );
  let done = 0;
  await Promise.all(
    clients.map((c) =>
      c.ready.then(() => {
        done++;
        if (done % 25 === 0) process.stdout.write(`  ${done}/${C} clients synced\n`);
      }),
    ),
  );
  const full = performance.now() - t0;
  for (const c of clients)
    if (c.list(TypeUrl.Address).size !== N) throw new Error('client did not get everything');
  const t1 = performance.now();
  const changed = clients.map(
    (c) => new Promise((r) => c.watch(TypeUrl.Address, 'Kubernetes//Pod/bench/w0', r)),
  );
  child.send('change');
  await Promise.all(changed);
  const one = performance.now() - t1;
  const rss = process.memoryUsage().rss;
  console.table({
    'full sync (ms)': { value: Math.round(full), target: '< 2000' },
    'one change to all (ms)': { value: Math.round(one), target: '< 100' },
    'client process RSS (MB)': { value: Math.round(rss / 1e6), target: '' },
  });
  for (const c of clients) c.close();
  child.send('stop');
}
