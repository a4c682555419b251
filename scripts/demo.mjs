#!/usr/bin/env node
// `npm run demo` — the one-command demo mesh. It installs what is missing (npm packages,
// Debian packages when root), builds, and then runs `ambientctl demo`.
// Until the demo issue lands, it says so plainly instead of pretending.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => spawnSync(cmd, args, { cwd: root, stdio: 'inherit' }).status ?? 1;

if (process.getuid?.() !== 0) {
  console.error('The demo builds a cluster of Linux network namespaces and needs root: sudo npm run demo');
  process.exit(1);
}
if (run('bash', [path.join(root, 'scripts', 'ensure-system-deps.sh')]) !== 0) process.exit(1);
if (
  !existsSync(path.join(root, 'node_modules', '.bin', 'turbo')) &&
  run('npm', ['ci', '--no-audit', '--no-fund']) !== 0
) {
  process.exit(1);
}
if (run('npx', ['turbo', 'run', 'build', '--output-logs=errors-only']) !== 0) process.exit(1);

const cli = path.join(root, 'apps', 'cli', 'dist', 'main.js');
if (!existsSync(cli)) {
  console.error('The demo mesh is not built yet: ambientctl (apps/cli) has not landed. See issue 9.');
  process.exit(2);
}
process.exit(run(process.execPath, [cli, 'demo', ...process.argv.slice(2)]));
