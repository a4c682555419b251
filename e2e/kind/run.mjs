#!/usr/bin/env node
// The kind scenarios: the same checks as the network-namespace suite, on a real Kubernetes
// cluster (kind, kind-config.yaml: 1 control plane + 2 workers), through kubectl.
//   npm run e2e:kind            (needs docker and kind; skips with a message otherwise)
//   KEEP_CLUSTER=1 npm run e2e:kind   (leave the cluster up afterwards)
// Steps: create the cluster, build the image and `kind load` it, `ambientctl install`, the
// sample apps in an enrolled namespace, then: mTLS between nodes (identities in ztunnel's
// access log), an L4 policy refusal, a waypoint (`ambientctl waypoint apply`) with routing
// and fault injection. Exit 0 when every check passed, 1 otherwise, 0 with SKIP when the
// tools are missing (E2E_REQUIRED=1 turns the skip into a failure).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const HERE = path.join(ROOT, 'e2e', 'kind');
const CLUSTER = 'ambient';
const CLI = ['node', path.join(ROOT, 'apps', 'cli', 'dist', 'main.js')];
const results = [];

function sh(cmd, args, { input, allowFailure = false, quiet = false } = {}) {
  if (!quiet) console.log(`$ ${[cmd, ...args].join(' ')}`);
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 64 * 1024 * 1024, cwd: ROOT });
  if (r.status !== 0 && !allowFailure)
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${r.status}: ${(r.stderr || r.error?.message || '').trim()}`,
    );
  return r;
}
const have = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
const kubectl = (...args) => sh('kubectl', ['--context', `kind-${CLUSTER}`, ...args]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function check(name, ok, detail) {
  results.push({ name, ok, detail });
  console.log(`${ok ? '✔' : '✘'} ${name}${detail ? ` — ${detail}` : ''}`);
}

/** One HTTP request from the sleep pod; {status, body} or undefined when refused. */
function get(url, headers = {}) {
  const args = [
    'exec',
    '-n',
    'demo',
    'sleep',
    '--',
    'node',
    '/opt/ambient/packages/testkit/dist/cli.js',
    'http-get',
    url,
    '--timeout-ms',
    '5000',
  ];
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
  const r = sh('kubectl', ['--context', `kind-${CLUSTER}`, ...args], { allowFailure: true });
  if (r.status !== 0) return undefined;
  return JSON.parse(r.stdout);
}

async function until(what, fn, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(2000);
  }
}

async function main() {
  const missing = ['docker', 'kind', 'kubectl'].filter((b) => !have(b));
  if (missing.length || sh('docker', ['info'], { allowFailure: true, quiet: true }).status !== 0) {
    const why = missing.length ? `${missing.join(', ')} not installed` : 'no docker engine running';
    console.log(`SKIP e2e/kind: ${why} (needs docker, kind and kubectl; see README "On a cluster")`);
    return process.env.E2E_REQUIRED === '1' ? 1 : 0;
  }
  console.log('• creating the kind cluster (kind-config.yaml)');
  if (!sh('kind', ['get', 'clusters'], { quiet: true }).stdout.split('\n').includes(CLUSTER))
    sh('kind', ['create', 'cluster', '--config', 'kind-config.yaml', '--wait', '120s']);
  console.log('• building the image and loading it into the nodes');
  sh('docker', ['build', '-f', 'deploy/Dockerfile', '-t', 'ambient:dev', '.']);
  sh('kind', ['load', 'docker-image', 'ambient:dev', '--name', CLUSTER]);
  console.log("• the CRDs we consume (Istio's base CRDs and the Gateway API are prerequisites)");
  for (const crd of (process.env.CRD_URLS ?? '').split(',').filter(Boolean))
    kubectl('apply', '--server-side', '-f', crd);
  console.log('• ambientctl install');
  sh(CLI[0], [CLI[1], 'install']);
  kubectl('-n', 'ambient-system', 'rollout', 'status', 'deploy/ambient-controller', '--timeout=180s');
  kubectl('-n', 'ambient-system', 'rollout', 'status', 'ds/ztunnel', '--timeout=180s');
  console.log('• sample apps in namespace demo (enrolled)');
  kubectl('apply', '-f', path.join(HERE, 'apps.yaml'));
  kubectl('-n', 'demo', 'wait', '--for=condition=Ready', 'pod', '--all', '--timeout=180s');

  // 1. mTLS between nodes: the request works and ztunnel logged both identities.
  const r1 = get('http://reviews.demo:9080/');
  check(
    'sleep (zone-a) → reviews (zone-b) through the mesh',
    r1?.status === 200,
    r1 ? `answered by ${r1.body.pod}` : 'no answer',
  );
  const logs = kubectl(
    '-n',
    'ambient-system',
    'logs',
    'ds/ztunnel',
    '--all-containers',
    '--tail=-1',
    '--prefix',
  ).stdout;
  check(
    'ztunnel logged the SPIFFE identities of the hop',
    logs.includes('"src.identity":"spiffe://cluster.local/ns/demo/sa/sleep"') &&
      logs.includes('"dst.identity":"spiffe://cluster.local/ns/demo/sa/reviews"'),
  );

  // 2. L4 policy: ratings only from reviews.
  kubectl('apply', '-f', path.join(HERE, 'l4-policy.yaml'));
  await until(
    'the policy to reach the ztunnels',
    () => get('http://ratings.demo:9080/') === undefined,
    30_000,
  ).catch(() => {});
  check('AuthorizationPolicy: sleep → ratings refused', get('http://ratings.demo:9080/') === undefined);

  // 3. The waypoint: routing and fault injection.
  sh(CLI[0], [CLI[1], 'waypoint', 'apply', '-n', 'demo', '--enroll-namespace']);
  await until(
    'the waypoint Deployment the controller creates',
    () =>
      kubectl(
        '-n',
        'demo',
        'get',
        'deploy',
        'waypoint',
        '-o',
        'jsonpath={.status.readyReplicas}',
      ).stdout.trim() === '1',
  );
  kubectl('apply', '-f', path.join(HERE, 'l7-routing.yaml'));
  await until(
    'routing through the waypoint',
    () => get('http://reviews.demo:9080/')?.body.pod?.startsWith('reviews-v2'),
    60_000,
  ).catch(() => {});
  const pods = new Set(
    Array.from({ length: 10 }, () =>
      get('http://reviews.demo:9080/')?.body.pod?.replace(/-[a-z0-9]+-[a-z0-9]+$/, ''),
    ),
  );
  check(
    'VirtualService: every request to reviews lands on v2',
    pods.size === 1 && pods.has('reviews-v2'),
    [...pods].join(','),
  );
  const fault = get('http://reviews.demo:9080/', { 'x-fault': 'abort' });
  check('fault injection: abort with 418 on the header', fault?.status === 418, `status ${fault?.status}`);

  const failed = results.filter((r) => !r.ok);
  console.log(`\n${results.length - failed.length} passed, ${failed.length} failed`);
  return failed.length ? 1 : 0;
}

main()
  .then((code) => {
    if (!process.env.KEEP_CLUSTER && have('kind') && results.length)
      sh('kind', ['delete', 'cluster', '--name', CLUSTER], { allowFailure: true });
    process.exit(code);
  })
  .catch((err) => {
    console.error(`e2e/kind failed: ${err.message}`);
    if (!process.env.KEEP_CLUSTER && have('kind'))
      sh('kind', ['delete', 'cluster', '--name', CLUSTER], { allowFailure: true });
    process.exit(1);
  });
