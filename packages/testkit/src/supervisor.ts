// Process supervision for tests: start a child (optionally inside a network namespace),
// wait until it is ready, keep its output in a log file named after the test, and stop it
// by pid — SIGTERM, then SIGKILL after a grace period. Children still alive when the test
// process exits are killed synchronously, so a failed test never leaves processes behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { run } from './lab/run.js';
import { testkitCli } from './paths.js';

export type Readiness = { tcp: number; host?: string } | { http: string } | { log: RegExp };

export interface StartOptions {
  /** Short name, used for the log file and in messages. */
  name: string;
  command: string;
  args?: string[];
  /** Run inside this network namespace (`ip netns exec`, which execs: the pid is the child's). */
  netns?: string;
  env?: Record<string, string>;
  cwd?: string;
  ready?: Readiness;
  /** Deadline for readiness (default 15 s). */
  readyTimeoutMs?: number;
}

export class Child {
  exitCode: number | null = null;
  signal: NodeJS.Signals | null = null;
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
    readonly logFile: string,
    private readonly netns?: string,
  ) {
    this.exited = new Promise((resolve) => {
      process.once('exit', (code, signal) => {
        this.exitCode = code;
        this.signal = signal;
        resolve();
      });
    });
  }

  get pid(): number {
    return this.process.pid!;
  }

  get running(): boolean {
    return this.exitCode === null && this.signal === null;
  }

  /** Everything the child wrote so far (stdout and stderr interleaved). */
  output(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  /** The JSON log lines the process printed (pino), parsed; other lines skipped. */
  async jsonLogs(): Promise<Record<string, string | number>[]> {
    return (await this.output())
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, string | number>);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.running) return;
    signalPid(this.pid, 'SIGTERM');
    const killed = await Promise.race([this.exited.then(() => false), sleep(graceMs).then(() => true)]);
    if (killed) {
      signalPid(this.pid, 'SIGKILL');
      await this.exited;
    }
  }

  /** Sends a signal by pid (e.g. SIGTERM to test draining) without waiting. */
  signalNow(signal: NodeJS.Signals): void {
    if (this.running) signalPid(this.pid, signal);
  }

  toString(): string {
    return `${this.name} (pid ${this.pid}${this.netns ? ` in netns ${this.netns}` : ''})`;
  }
}

const live = new Set<Child>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) if (child.running) signalPid(child.pid, 'SIGKILL');
  });
}

export class Supervisor {
  private readonly children: Child[] = [];
  private readonly written = new Set<string>();

  /** `logDir`: where each child's `<name>.log` goes, e.g. `test-logs/<test name>`. */
  constructor(readonly logDir: string) {
    mkdirSync(logDir, { recursive: true });
    installExitHook();
  }

  async start(opts: StartOptions): Promise<Child> {
    const logFile = path.join(this.logDir, `${opts.name}.log`);
    // A fresh log per run; a restart within the same run appends to it.
    const log = createWriteStream(logFile, { flags: this.written.has(logFile) ? 'a' : 'w' });
    this.written.add(logFile);
    const [cmd, args] = opts.netns
      ? ['ip', ['netns', 'exec', opts.netns, opts.command, ...(opts.args ?? [])]]
      : [opts.command, opts.args ?? []];
    const proc = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const child = new Child(opts.name, proc, logFile, opts.netns);
    live.add(child);
    this.children.push(child);
    let recent = '';
    const onData = (chunk: Buffer) => {
      log.write(chunk);
      recent = (recent + chunk.toString('utf8')).slice(-64 * 1024);
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    void child.exited.then(() => {
      live.delete(child);
      log.end();
    });
    await new Promise<void>((resolve, reject) => {
      proc.once('spawn', resolve);
      proc.once('error', reject);
    });
    if (opts.ready) {
      try {
        await waitReady(child, opts, () => recent);
      } catch (err) {
        await child.stop(500);
        throw err;
      }
    }
    return child;
  }

  /** Stops every child this supervisor started, in reverse order. */
  async stopAll(graceMs = 5000): Promise<void> {
    for (const child of [...this.children].reverse()) await child.stop(graceMs);
  }
}

async function waitReady(child: Child, opts: StartOptions, recentOutput: () => string): Promise<void> {
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 15_000);
  const ready = opts.ready!;
  for (let attempt = 0; ; attempt++) {
    if (!child.running) {
      throw new Error(
        `${child} exited (code ${child.exitCode}, signal ${child.signal}) before it was ready:\n${recentOutput().slice(-4000)}`,
      );
    }
    if (await isReady(ready, opts.netns, recentOutput)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `${child} was not ready within ${opts.readyTimeoutMs ?? 15_000} ms (${describe(ready)}):\n${recentOutput().slice(-4000)}`,
      );
    }
    await sleep(Math.min(20 * 2 ** attempt, 200));
  }
}

async function isReady(
  ready: Readiness,
  netns: string | undefined,
  recentOutput: () => string,
): Promise<boolean> {
  if ('log' in ready) return ready.log.test(recentOutput());
  if ('http' in ready && netns) {
    // The URL lives inside another namespace: ask from there.
    const res = await run(
      'ip',
      ['netns', 'exec', netns, process.execPath, testkitCli, 'http-get', ready.http, '--timeout-ms', '1000'],
      {
        allowFailure: true,
      },
    );
    return res.code === 0 && /"status":200/.test(res.stdout);
  }
  if ('http' in ready) {
    try {
      const res = await fetch(ready.http, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  }
  if (netns) {
    // The port lives inside another namespace: ask the kernel there who listens.
    const res = await run('ss', ['-Hltn', `sport = :${ready.tcp}`], { netns, allowFailure: true });
    return res.code === 0 && res.stdout.trim().length > 0;
  }
  return new Promise((resolve) => {
    const sock = net.connect({ port: ready.tcp, host: ready.host ?? '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

function describe(ready: Readiness): string {
  if ('log' in ready) return `waiting for output matching ${ready.log}`;
  if ('http' in ready) return `waiting for HTTP 200 from ${ready.http}`;
  return `waiting for TCP port ${ready.tcp}`;
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
