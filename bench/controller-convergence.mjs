#!/usr/bin/env node
// Benchmark (not a test): the controller at 1,000 pods and 100 services. Time from a policy
// change on disk to every connected ztunnel's ACK, and the controller's memory at that size.
// The controller runs as its own process; N xDS clients (ztunnel's subscription) in this one.
//   node bench/controller-convergence.mjs [--pods 1000] [--services 100] [--clients 20] [--rounds 5]
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOKEN_KEY_FILE, TokenIssuer } from '@ambient/mtls';
import { TypeUrl } from '@ambient/proto';
import { Supervisor } from '@ambient/testkit';
import { istioTypes, XdsClient } from '@ambient/xds';
import { median, rssMb } from './lib/measure.mjs';

const arg = (n, d) => {
  const i = process.argv.indexOf(`--${n}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};
const PODS = arg('pods', 1000);
const SERVICES = arg('services', 100);
const CLIENTS = arg('clients', 20);
const ROUNDS = arg('rounds', 5);
const here = path.dirname(fileURLToPath(import.meta.url));
const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-ctl-'));
const configDir = path.join(dir, 'config');
mkdirSync(configDir);

console.log(
  `controller convergence: ${PODS} pods, ${SERVICES} services, ${CLIENTS} xDS clients, ${ROUNDS} policy changes`,
);
const docs = [
  'apiVersion: v1\nkind: Namespace\nmetadata: {name: bench, labels: {istio.io/dataplane-mode: ambient}}',
];
for (let s = 0; s < SERVICES; s++) {
  docs.push(
    `apiVersion: v1\nkind: Service\nmetadata: {name: svc-${s}, namespace: bench}\nspec: {clusterIP: 10.96.${s >> 8}.${s & 255}, selector: {app: app-${s}}, ports: [{name: http, port: 80, targetPort: 8080}]}`,
  );
}
for (let p = 0; p < PODS; p++) {
  docs.push(
    `apiVersion: v1\nkind: Pod\nmetadata: {name: pod-${p}, namespace: bench, labels: {app: app-${p % SERVICES}}}\nspec: {nodeName: node-${p % 50}, serviceAccountName: sa-${p % SERVICES}, containers: [{name: app}]}\nstatus: {phase: Running, podIP: 10.${1 + (p >> 16)}.${(p >> 8) & 255}.${p & 255}, conditions: [{type: Ready, status: "True"}]}`,
  );
}
writeFileSync(path.join(configDir, 'cluster.yaml'), docs.join('\n---\n'));

const sup = new Supervisor(path.join(dir, 'logs'));
try {
  const controller = await sup.start({
    name: 'controller',
    command: process.execPath,
    args: [path.join(here, '..', 'apps', 'controller', 'dist', 'main.js')],
    env: {
      AMBIENT_CONFIG_DIR: configDir,
      AMBIENT_CA_DIR: path.join(dir, 'ca'),
      AMBIENT_XDS_PLAINTEXT_ADDR: '127.0.0.1:25010',
      AMBIENT_XDS_TLS_ADDR: '127.0.0.1:25012',
      AMBIENT_DEBUG_ADDR: '127.0.0.1:25014',
      AMBIENT_DEBOUNCE_MS: '50',
      LOG_LEVEL: 'warn',
    },
    ready: { http: 'http://127.0.0.1:25014/debug/config' },
  });
  // Every stream authenticates: each client holds its node's ztunnel token, as on a cluster.
  const issuer = TokenIssuer.loadOrCreate(path.join(dir, 'ca', TOKEN_KEY_FILE));
  const tokens = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) =>
      issuer.sign({ namespace: 'ambient-system', serviceAccount: 'ztunnel', node: `node-${i}` }, 3600),
    ),
  );
  const t0 = performance.now();
  const clients = Array.from({ length: CLIENTS }, (_, i) =>
    new XdsClient({
      address: '127.0.0.1:25010',
      node: {
        id: `ztunnel~10.0.0.${i}~zt-${i}.ambient-system~ambient-system.svc.cluster.local`,
        metadata: { NAMESPACE: 'ambient-system', NODE_NAME: `node-${i}` },
      },
      types: [istioTypes.address, istioTypes.authorization],
      headers: () => ({ authorization: `Bearer ${tokens[i]}` }),
    }).start(),
  );
  await Promise.all(clients.map((c) => c.ready));
  const initial = performance.now() - t0;
  for (const c of clients)
    if (c.list(TypeUrl.Address).size !== PODS + SERVICES)
      throw new Error(`client has ${c.list(TypeUrl.Address).size} addresses`);
  console.log(
    `  initial sync of ${PODS + SERVICES} addresses to ${CLIENTS} clients: ${initial.toFixed(0)} ms`,
  );

  const samples = [];
  for (let r = 0; r < ROUNDS; r++) {
    const name = `policy-${r}`;
    const seen = clients.map(
      (c) => new Promise((resolve) => c.watch(TypeUrl.Authorization, `bench/${name}`, resolve)),
    );
    const start = performance.now();
    writeFileSync(
      path.join(configDir, `${name}.yaml`),
      `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: bench}\nspec: {action: DENY, rules: [{to: [{operation: {ports: ["${1000 + r}"]}}]}]}\n`,
    );
    await Promise.all(seen);
    samples.push(performance.now() - start);
    console.log(
      `  round ${r + 1}: policy on disk → all ${CLIENTS} clients applied it: ${samples.at(-1).toFixed(0)} ms`,
    );
  }
  const rss = rssMb(controller.pid);
  console.table({
    'policy change → every client (median ms)': {
      value: median(samples).toFixed(0),
      'min–max': `${Math.min(...samples).toFixed(0)}–${Math.max(...samples).toFixed(0)}`,
    },
    'initial sync (ms)': { value: initial.toFixed(0), 'min–max': '' },
    'controller RSS (MB)': { value: rss.toFixed(0), 'min–max': '' },
  });
  console.log('(includes the files source debounce of 50 ms and the file watcher latency)');
  for (const c of clients) c.close();
} finally {
  await sup.stopAll(2000);
}
process.exit(0);
