#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`): the functions with the most self time,
// and the files (packages) where the time goes.
//   node bench/lib/profile-top.mjs <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
const top = Number(topArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map();
const dt = prof.timeDeltas;
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i];
  self.set(id, (self.get(id) ?? 0) + (dt[i] ?? 0));
}
// Percentages are of the busy time: idle samples (waiting for I/O) are left out.
let idle = 0;
for (const [id, us] of self) if (byId.get(id).callFrame.functionName === '(idle)') idle += us;
const total = [...self.values()].reduce((a, b) => a + b, 0) - idle;
const byFn = new Map();
const byFile = new Map();
for (const [id, us] of self) {
  const cf = byId.get(id).callFrame;
  if (cf.functionName === '(idle)') continue;
  const where = cf.url ? cf.url.replace(/^.*\/(node_modules|packages|apps)\//, '$1/') : '(native)';
  const fn = `${cf.functionName || '(anonymous)'}  ${where}:${cf.lineNumber + 1}`;
  byFn.set(fn, (byFn.get(fn) ?? 0) + us);
  const f = where.replace(/:\d+$/, '');
  byFile.set(f, (byFile.get(f) ?? 0) + us);
}
const show = (m, title) => {
  console.log(`\n${title}`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${((us / total) * 100).toFixed(1).padStart(5)} %  ${k}`);
};
console.log(`${file}: ${(total / 1e6).toFixed(2)} s busy, ${(idle / 1e6).toFixed(2)} s idle`);
show(byFn, 'self time by function');
show(byFile, 'self time by file');
