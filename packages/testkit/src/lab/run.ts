// Runs the few system commands the lab needs (ip, iptables, ss) and reports failures with
// the full command line and stderr, so a broken lab step says exactly what failed.
import { execFile } from 'node:child_process';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class CommandError extends Error {
  readonly code = 'LAB_COMMAND';
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    super(
      `\`${command}\` exited ${result.code}: ${result.stderr.trim() || result.stdout.trim() || '(no output)'}`,
    );
  }
}

export interface RunOptions {
  /** Run inside this network namespace (`ip netns exec`). */
  netns?: string;
  input?: string;
  timeoutMs?: number;
  /** Resolve with the result instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
  env?: NodeJS.ProcessEnv;
}

export function run(file: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const [cmd, argv] = opts.netns ? ['ip', ['netns', 'exec', opts.netns, file, ...args]] : [file, args];
  const line = [cmd, ...argv].join(' ');
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      argv,
      { timeout: opts.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, env: opts.env ?? process.env },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        const result = { stdout: String(stdout), stderr: String(stderr), code };
        if (code !== 0 && !opts.allowFailure) reject(new CommandError(line, result));
        else resolve(result);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** `ip <args>` — the lab's main tool. */
export function ip(...args: string[]): Promise<RunResult> {
  return run('ip', args);
}
