#!/usr/bin/env node
// `npm run bench [-- --quick]`: every benchmark of the benchmark issue, one after the other,
// each against its peer in the same run — L4 on the in-box cluster (throughput, latency,
// connection rate, memory: ztunnel vs stunnel4), L7 (waypoint vs nginx and haproxy), and the
// control plane (Address resources to many xDS clients). Each writes its JSON to results/.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const runs = [
  ['L4 on the in-box cluster', 'lab-l4.mjs', quick ? ['--quick'] : []],
  ['L7: waypoint vs nginx and haproxy, plain and mutual TLS', 'waypoint-l7.mjs', quick ? ['--quick'] : []],
  [
    quick
      ? 'control plane: 2,000 workloads + 200 services to 10 clients'
      : 'control plane: 10,000 workloads + 1,000 services to 50 clients',
    'xds-convergence.mjs',
    quick
      ? ['--workloads', '2000', '--services', '200', '--clients', '10']
      : ['--workloads', '10000', '--services', '1000', '--clients', '50'],
  ],
];
let failed = 0;
const t0 = Date.now();
for (const [title, script, args] of runs) {
  console.log(`\n════ ${title} (${script} ${args.join(' ')})`);
  const r = spawnSync(process.execPath, [path.join(here, script), ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.log(`✘ ${script} exited ${r.status}`);
  }
}
console.log(
  `\nbenchmarks done in ${((Date.now() - t0) / 1000).toFixed(0)} s; ${failed} failed; JSON in bench/results/`,
);
process.exit(failed ? 1 : 0);
