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

type Env = Record<string, string | undefined>;

/**
 * Reads typed variables and collects every problem (name, value, reason) instead of stopping
 * at the first; `done()` throws one ConfigError listing them all. Shared by the binaries so a
 * variable means the same thing in each.
 */
export class EnvReader {
  readonly problems: string[] = [];

  constructor(readonly env: Env) {}

  bad(name: string, value: string, why: string): void {
    this.problems.push(`${name}=${JSON.stringify(value)}: ${why}`);
  }

  int(name: string, def: number, min: number, max: number): number {
    const v = this.env[name];
    if (v === undefined || v === '') return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      this.bad(name, v, `expected an integer from ${min} to ${max}`);
      return def;
    }
    return n;
  }

  hostPort(name: string, def: string): HostPort {
    const v = this.env[name] ?? def;
    const parsed = parseHostPort(v);
    if (!parsed) this.bad(name, v, 'expected host:port (e.g. 127.0.0.1:15000 or [::]:15020)');
    return parsed ?? parseHostPort(def)!;
  }

  /** The file's text, or undefined (and a problem) when it cannot be read. */
  file(name: string, path: string | undefined, read: (p: string) => string): string | undefined {
    if (!path) return undefined;
    try {
      return read(path);
    } catch (err) {
      this.bad(name, path, `cannot read: ${(err as Error).message}`);
      return undefined;
    }
  }

  /** `[http[s]://]host:port` → with a scheme (https by default); undefined when `""` (disabled). */
  controlPlaneAddress(name: string, def: string): string | undefined {
    const v = this.env[name];
    if (v === '') return undefined;
    const a = v ?? def;
    const withScheme = /^[a-z]+:\/\//.test(a) ? a : `https://${a}`;
    if (!/^https?:\/\/[^/]+:\d+\/?$/.test(withScheme)) {
      this.bad(name, a, 'expected [http[s]://]host:port');
      return undefined;
    }
    return withScheme.replace(/\/$/, '');
  }

  /** The root certificate for a TLS control-plane address: inline PEM or a file path. */
  rootCert(name: string, address: string | undefined, read: (p: string) => string): string | undefined {
    if (!address?.startsWith('https://')) return undefined;
    const v = this.env[name] ?? './var/run/secrets/istio/root-cert.pem';
    if (v.includes('-----BEGIN CERTIFICATE-----')) return v;
    return this.file(name, v, read);
  }

  /** AUTH_TOKEN: a file (read again on every call, tokens rotate) or a literal token. */
  authToken(read: (p: string) => string): () => string | undefined {
    const source = this.env.AUTH_TOKEN ?? './var/run/secrets/tokens/istio-token';
    const literal =
      this.env.AUTH_TOKEN && !this.env.AUTH_TOKEN.includes('/') ? this.env.AUTH_TOKEN : undefined;
    return () => {
      try {
        return read(source).trim();
      } catch {
        return literal;
      }
    };
  }

  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}

/**
 * A binary's `main`: load the configuration (a ConfigError prints every problem and exits 2),
 * start, and on SIGTERM/SIGINT call the returned stop once, then exit 0. A start-up failure
 * exits 1 with its message.
 */
export function runMain<C>(
  name: string,
  load: () => C,
  start: (config: C) => Promise<(signal: string) => Promise<void>>,
): void {
  const main = async () => {
    let config: C;
    try {
      config = load();
    } catch (err) {
      if (err instanceof ConfigError) {
        console.error(`${name}: ${err.message}`);
        process.exit(2);
      }
      throw err;
    }
    const stop = await start(config);
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      void stop(signal).then(() => process.exit(0));
    };
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  };
  main().catch((err: Error) => {
    console.error(`${name}: failed to start: ${err.message}`);
    process.exit(1);
  });
}
