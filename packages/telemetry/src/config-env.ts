// Start-up configuration from the environment, the parts both binaries (ztunnel, controller)
// read the same way: listen addresses as host:port and the error that lists every problem at
// once, so a bad DaemonSet or Deployment is fixed in one round instead of one per variable.

export interface HostPort {
  host: string;
  port: number;
}

/** `127.0.0.1:15000`, `0.0.0.0:15012`, `[::]:15020`; undefined when it is not host:port. */
export function parseHostPort(v: string): HostPort | undefined {
  const m = /^\[?([^\]]*?)\]?:(\d{1,5})$/.exec(v);
  if (!m || Number(m[2]) > 65535) return undefined;
  return { host: m[1]!, port: Number(m[2]) };
}

/** Every problem found in the environment, each naming the variable, its value and the reason. */
export class ConfigError extends Error {
  readonly code = 'CONFIG';
  constructor(readonly problems: string[]) {
    super(
      `invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n  ${problems.join('\n  ')}`,
    );
  }
}
