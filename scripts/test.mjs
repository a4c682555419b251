#!/usr/bin/env node
// `npm test`: build everything (turbo), then run the unit/integration project and the
// network-namespace e2e project one after the other, and end with one plain summary line
// counted from vitest's own JSON reports: "N passed, N failed[, N skipped]".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const reportDir = path.join(root, 'test-logs', 'reports');
const extra = process.argv.slice(2);

function step(title, cmd, args) {
  console.log(`\n=== ${title}: ${cmd} ${args.join(' ')}`);
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  return res.status ?? 1;
}

// Debian packages (iproute2, iptables, …): installed when root, otherwise the exact
// command is printed and the root-only suites skip loudly (or fail under E2E_REQUIRED=1).
step('system packages', 'bash', [path.join(root, 'scripts', 'ensure-system-deps.sh')]);

if (!existsSync(path.join(root, 'node_modules', '.bin', 'vitest'))) {
  console.log('node_modules is missing: running npm ci first');
  if (step('install', 'npm', ['ci', '--no-audit', '--no-fund']) !== 0) process.exit(1);
}

if (step('build', 'npx', ['turbo', 'run', 'build', '--output-logs=errors-only']) !== 0) {
  console.log('0 passed, 1 failed');
  process.exit(1);
}

rmSync(reportDir, { recursive: true, force: true });
mkdirSync(reportDir, { recursive: true });
const totals = { passed: 0, failed: 0, skipped: 0 };
let exit = 0;
for (const project of ['unit', 'e2e-netns']) {
  const report = path.join(reportDir, `${project}.json`);
  const code = step(`tests (${project})`, 'npx', [
    'vitest',
    'run',
    '--project',
    project,
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    '--passWithNoTests',
    ...extra,
  ]);
  if (code !== 0) exit = 1;
  if (!existsSync(report)) {
    console.log(`no report from ${project}: counting it as one failure`);
    totals.failed += 1;
    exit = 1;
    continue;
  }
  const r = JSON.parse(readFileSync(report, 'utf8'));
  totals.passed += r.numPassedTests;
  totals.failed += r.numFailedTests;
  totals.skipped += r.numPendingTests + r.numTodoTests;
  // A file that failed to load (syntax error, failed gate) has no failed test but fails the run.
  if (r.numFailedTestSuites > 0 && r.numFailedTests === 0) totals.failed += r.numFailedTestSuites;
}

const skipped = totals.skipped > 0 ? `, ${totals.skipped} skipped` : '';
console.log(`\n${totals.passed} passed, ${totals.failed} failed${skipped}`);
process.exit(exit || (totals.failed > 0 ? 1 : 0));
