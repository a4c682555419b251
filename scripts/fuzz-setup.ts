// fast-check's budget for every property test of the `unit` project (vitest setupFiles).
// `npm test`: 500 inputs per property (a property may ask for fewer or more). `npm run fuzz`
// (scripts/fuzz.mjs) sets FUZZ_SECONDS — a time budget per target — or FUZZ_RUNS, and
// FUZZ_REPORT, a file that gets one JSON line per target: name, inputs tried, seconds, result.
import { appendFileSync } from 'node:fs';
import fc from 'fast-check';
import { expect } from 'vitest';

const seconds = Number(process.env.FUZZ_SECONDS ?? '0');
const runs = Number(process.env.FUZZ_RUNS ?? '0');
const report = process.env.FUZZ_REPORT;

function record(details: fc.RunDetails<unknown>, started: number): void {
  if (report)
    appendFileSync(
      report,
      `${JSON.stringify({
        target: expect.getState().currentTestName ?? '?',
        inputs: details.numRuns,
        seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
        failed: details.failed,
      })}\n`,
    );
  if (details.failed) throw new Error(fc.defaultReportMessage(details) ?? 'property failed');
}

if (seconds > 0 || runs > 0) {
  let started = performance.now();
  fc.configureGlobal({
    numRuns: runs > 0 ? runs : Number.MAX_SAFE_INTEGER,
    ...(seconds > 0 ? { interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false } : {}),
    reporter: (d) => {
      record(d as fc.RunDetails<unknown>, started);
      started = performance.now();
    },
  });
} else fc.configureGlobal({ numRuns: 500 });
