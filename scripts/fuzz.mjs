#!/usr/bin/env node
// `npm run fuzz`: every fuzz target (a property test named `fuzz: …`) for a time budget each —
// default 120 s, `--seconds N`, or `--long` (at least 1,000,000 inputs each, no time limit) —
// then a table: target, inputs, seconds, result. Targets run one file at a time so each gets
// the machine. Installs what it lacks like `npm test` does. A failure prints fast-check's
// shrunk counterexample and seed: pin it as a regression test.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const long = args.includes('--long');
const sIdx = args.indexOf('--seconds');
const seconds = sIdx >= 0 ? Number(args[sIdx + 1]) : long ? 0 : 120;
if (!existsSync(path.join(root, 'node_modules', '.bin', 'vitest'))) {
  console.log('node_modules is missing: running npm ci first');
  if (spawnSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' }).status !== 0)
    process.exit(1);
}
if (
  spawnSync('npx', ['turbo', 'run', 'build', '--output-logs=errors-only'], { cwd: root, stdio: 'inherit' })
    .status !== 0
)
  process.exit(1);
const dir = path.join(root, 'test-logs', 'fuzz');
mkdirSync(dir, { recursive: true });
const report = path.join(dir, 'report.jsonl');
rmSync(report, { force: true });
console.log(
  long
    ? 'fuzz: every target until 1,000,000 inputs'
    : `fuzz: every target for ${seconds} s (npm run fuzz -- --seconds N | --long)`,
);
const res = spawnSync(
  'npx',
  [
    'vitest',
    'run',
    '--project',
    'unit',
    // Targets are the tests named `fuzz: …` (vitest matches the full name, describe included).
    '--testNamePattern=fuzz: ',
    '--no-file-parallelism',
    // A file holds up to three targets, each with the whole budget.
    `--testTimeout=${(seconds || 3600) * 4 * 1000}`,
  ],
  {
    cwd: root,
    stdio: 'inherit',
    env: {
      ...process.env,
      FUZZ_REPORT: report,
      ...(seconds > 0 ? { FUZZ_SECONDS: String(seconds) } : {}),
      ...(long ? { FUZZ_RUNS: '1000000' } : {}),
    },
  },
);
const lines = existsSync(report)
  ? readFileSync(report, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
// One row per target (a target may hold several properties: their inputs add up).
const byTarget = new Map();
for (const l of lines) {
  const t = byTarget.get(l.target) ?? { target: l.target, inputs: 0, seconds: 0, failed: false };
  t.inputs += l.inputs;
  t.seconds += l.seconds;
  t.failed ||= l.failed;
  byTarget.set(l.target, t);
}
const rows = [...byTarget.values()];
console.log('\n| target | inputs | seconds | result |\n|---|---|---|---|');
for (const r of rows)
  console.log(
    `| ${r.target.replace(/^.* > /, '')} | ${r.inputs.toLocaleString('en-US')} | ${r.seconds.toFixed(0)} | ${r.failed ? 'FAILED' : 'ok'} |`,
  );
console.log(
  `\n${rows.length} targets, ${rows.filter((r) => r.failed).length} failed; report: ${path.relative(root, report)}`,
);
process.exit(res.status ?? 1);
