// Summaries of the L4 benchmarks: medians of rounds per path, the ratios against the peer,
// and the JSON file with machine info and every raw sample.
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { median } from './measure.mjs';

/** samples: { direct: [...], stunnel: [...], ztunnel: [...] }, each sample from a measure run. */
export function summarize(samples) {
  const m = (name, f) => median(samples[name].map(f));
  const sides = (name, f, digits = 2) =>
    samples[name][0].cpuPerGiB.length
      ? [0, 1].map((i) => m(name, (s) => f(s)[i]).toFixed(digits)).join(' / ')
      : '-';
  // The median and, with more than one round, the min–max spread of the rounds.
  const spread = (name, f, digits) => {
    const xs = samples[name].map(f);
    const med = median(xs).toFixed(digits);
    return xs.length > 1
      ? `${med} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`
      : med;
  };
  const rows = {};
  for (const name of Object.keys(samples)) {
    rows[name] = {
      'Gbit/s': spread(name, (s) => s.gbps, 2),
      'CPU-s/GiB per side': sides(name, (s) => s.cpuPerGiB),
      'p50 ms': m(name, (s) => s.p50).toFixed(2),
      'p90 ms': m(name, (s) => s.p90).toFixed(2),
      'p99 ms': spread(name, (s) => s.p99, 2),
      'p99.9 ms': m(name, (s) => s.p999).toFixed(2),
      'added p99 ms':
        name === 'direct' ? '-' : (m(name, (s) => s.p99) - m('direct', (s) => s.p99)).toFixed(2),
      'CPU-s/10k req per side': sides(name, (s) => s.cpuPer10k),
      // Measured by the lab benchmark only.
      'new conns/s': samples[name][0].connPerSec === undefined ? '-' : spread(name, (s) => s.connPerSec, 0),
      'RSS MB': sides(name, (s) => s.rssMb, 0),
    };
  }
  const added = (name) => m(name, (s) => s.p99) - m('direct', (s) => s.p99);
  const ratios = {
    throughput: m('ztunnel', (s) => s.gbps) / m('stunnel', (s) => s.gbps),
    // Undefined when stunnel's added p99 is within the noise (≤ 0.1 ms): no ratio to speak of.
    addedP99: added('stunnel') > 0.1 ? added('ztunnel') / added('stunnel') : undefined,
    connRate:
      samples.ztunnel[0].connPerSec === undefined
        ? undefined
        : m('ztunnel', (s) => s.connPerSec) / m('stunnel', (s) => s.connPerSec),
  };
  return { rows, ratios };
}

export function printSummary(say, { rows, ratios }) {
  say('\nResults (medians of rounds):');
  console.table(rows);
  say(`ztunnel / stunnel throughput: ${ratios.throughput.toFixed(2)} (target ≥ 0.8)`);
  say(
    ratios.addedP99 === undefined
      ? 'ztunnel / stunnel added p99:  n/a — stunnel added nothing measurable over direct in this run'
      : `ztunnel / stunnel added p99:  ${ratios.addedP99.toFixed(2)} (target ≤ 2.0)`,
  );
  if (ratios.connRate !== undefined)
    say(`ztunnel / stunnel new connections/s: ${ratios.connRate.toFixed(2)}`);
}

/** Writes bench/results/<timestamp>-<bench>.json; returns its path. */
export function writeResults(benchDir, bench, data) {
  const out = path.join(benchDir, 'results');
  mkdirSync(out, { recursive: true });
  const file = path.join(out, `${new Date().toISOString().replace(/[:.]/g, '-')}-${bench}.json`);
  const machine = {
    cpus: os.cpus().length,
    model: os.cpus()[0].model,
    node: process.version,
    kernel: os.release(),
  };
  writeFileSync(file, JSON.stringify({ bench, machine, ...data }, null, 2));
  return file;
}
