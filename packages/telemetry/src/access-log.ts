// Logs: JSON lines on pino with ztunnel's access-log fields — shared spec ztunnel.md §7.2.
// One `connection complete` line per connection (info on success, error with `error=` on
// failure); `connection failed` (warn) when a connection fails before its context is known.
// Never log secrets: certificates, keys and tokens are not fields of any line here.
import { type LevelWithSilent, type Logger, pino } from 'pino';

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Where lines go (default stdout). */
  destination?: NodeJS.WritableStream;
  component: string;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { component: opts.component },
      messageKey: 'message',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['token', 'authorization', 'key', 'privateKey', '*.privateKeyPem'],
        censor: '[redacted]',
      },
    },
    opts.destination ?? process.stdout,
  );
}

export interface AccessLogEntry {
  direction: 'inbound' | 'outbound';
  'src.addr': string;
  'src.workload'?: string;
  'src.namespace'?: string;
  'src.identity'?: string;
  'src.cluster'?: string;
  'dst.addr': string;
  'dst.hbone_addr'?: string;
  'dst.service'?: string;
  'dst.workload'?: string;
  'dst.namespace'?: string;
  'dst.identity'?: string;
  'dst.cluster'?: string;
  bytes_sent: number;
  bytes_recv: number;
  /** `"<n>ms"`. */
  duration: string;
  response_flags?: string;
  error?: string;
  policy?: string;
}

export class AccessLog {
  private readonly log: Logger;

  constructor(logger: Logger) {
    this.log = logger.child({ scope: 'access' });
  }

  complete(entry: AccessLogEntry): void {
    const clean = Object.fromEntries(Object.entries(entry).filter(([, v]) => v !== undefined && v !== ''));
    if (entry.error) this.log.error(clean, 'connection complete');
    else this.log.info(clean, 'connection complete');
  }

  failed(fields: { 'src.addr': string; 'dst.addr': string; direction: string; error: string }): void {
    this.log.warn(fields, 'connection failed');
  }
}
