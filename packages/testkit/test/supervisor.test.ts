// The supervisor with real child processes: readiness by port, HTTP and log line; stop by
// pid with SIGTERM, escalation to SIGKILL; a child that dies early is reported with its output.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { Supervisor } from '../src/supervisor.js';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const sup = new Supervisor(mkdtempSync(path.join(tmpdir(), 'testkit-sup-')));
afterAll(() => sup.stopAll(1000));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('Supervisor', () => {
  it('waits for an HTTP 200, logs output, and stops the child by pid', async () => {
    const port = 20000 + Math.floor(Math.random() * 20000);
    const child = await sup.start({
      name: 'echo',
      command: process.execPath,
      args: [cli, 'http-echo', '--port', String(port), '--host', '127.0.0.1', '--name', 'sup-echo'],
      ready: { http: `http://127.0.0.1:${port}/` },
    });
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(((await res.json()) as { pod: string }).pod).toBe('sup-echo');
    expect(await child.output()).toContain(`http-echo listening on ${port}`);
    await child.stop();
    expect(child.running).toBe(false);
    expect(alive(child.pid)).toBe(false);
  });

  it('escalates to SIGKILL when SIGTERM is ignored', async () => {
    const child = await sup.start({
      name: 'stubborn',
      command: process.execPath,
      args: ['-e', "process.on('SIGTERM', () => {}); console.log('up'); setInterval(() => {}, 1000)"],
      ready: { log: /^up$/m },
    });
    const t0 = Date.now();
    await child.stop(300);
    expect(child.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
  });

  it('reports a child that exits before it is ready, with its output', async () => {
    await expect(
      sup.start({
        name: 'crasher',
        command: process.execPath,
        args: ['-e', "console.error('boom: bad config'); process.exit(3)"],
        ready: { tcp: 1 },
      }),
    ).rejects.toThrow(/exited \(code 3.*boom: bad config/s);
  });
});
