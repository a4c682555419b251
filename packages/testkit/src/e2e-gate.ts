// The gate in front of every test that needs root: when the machine cannot run it the
// suite is skipped with a loud message — unless E2E_REQUIRED=1 (CI), where a skip would
// hide a broken environment, so it fails instead.
import { labSupported } from './lab/lab.js';

export interface Gate {
  run: boolean;
  reason?: string;
}

export async function netnsGate(suite: string): Promise<Gate> {
  const support = await labSupported();
  if (support.ok) return { run: true };
  const message = `SKIPPED ${suite}: ${support.reason}. Run as root (sudo npm test) to include it.`;
  if (process.env.E2E_REQUIRED === '1') {
    throw new Error(`E2E_REQUIRED=1 but ${suite} cannot run here: ${support.reason}`);
  }
  console.warn(`\n${'!'.repeat(78)}\n${message}\n${'!'.repeat(78)}\n`);
  return { run: false, reason: support.reason! };
}
