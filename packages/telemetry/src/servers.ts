// The three small HTTP servers of a proxy — shared spec ztunnel.md §7.3, §8:
//   admin (15000, localhost): /config_dump, /logging, /quitquitquit, / (index);
//   stats (15020): /metrics and /stats/prometheus;
//   readiness (15021): /healthz/ready → 200 "ready\n" or 500 "not ready, pending: …\n".
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Readiness } from './readiness.js';

export interface AdminHandlers {
  configDump(): unknown | Promise<unknown>;
  /** Graceful shutdown requested by POST /quitquitquit. */
  quit(): void;
  logger: Logger;
}

export interface BoundServer {
  address: AddressInfo;
  close(): Promise<void>;
}

function listen(server: http.Server, host: string, port: number): Promise<BoundServer> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve({
        address: server.address() as AddressInfo,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

function reply(
  res: http.ServerResponse,
  status: number,
  body: string,
  type = 'text/plain; charset=utf-8',
): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export function startAdminServer(host: string, port: number, h: AdminHandlers): Promise<BoundServer> {
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    try {
      if (url.pathname === '/config_dump') {
        if (req.method !== 'GET') return reply(res, 405, 'method not allowed\n');
        return reply(res, 200, `${JSON.stringify(await h.configDump(), null, 2)}\n`, 'application/json');
      }
      if (url.pathname === '/logging') {
        if (req.method !== 'POST') return reply(res, 405, 'method not allowed\n');
        const level = url.searchParams.get('level');
        if (url.searchParams.has('reset')) h.logger.level = 'info';
        else if (level) {
          // `level=<lvl>` or Rust-style `<target>=<lvl>,…`: the last level given wins (one logger here).
          const lvl = level
            .split(',')
            .map((p) => p.split('=').pop()!.trim().toLowerCase())
            .pop()!;
          if (!LEVELS.includes(lvl))
            return reply(res, 400, `invalid level "${lvl}"; use one of ${LEVELS.join(', ')}\n`);
          h.logger.level = lvl;
        }
        return reply(res, 200, `current log level is ${h.logger.level}\n`);
      }
      if (url.pathname === '/quitquitquit') {
        if (req.method !== 'POST') return reply(res, 405, 'method not allowed\n');
        reply(res, 200, 'shutdown now\n');
        setImmediate(() => h.quit());
        return;
      }
      if (url.pathname === '/') {
        return reply(
          res,
          200,
          '<html><body><h1>admin</h1><ul><li><a href="/config_dump">/config_dump</a></li><li>POST /logging?level=debug</li><li>POST /quitquitquit</li></ul></body></html>\n',
          'text/html; charset=utf-8',
        );
      }
      reply(res, 404, 'not found\n');
    } catch (err) {
      reply(res, 500, `${(err as Error).message}\n`);
    }
  });
  return listen(server, host, port);
}

export function startStatsServer(host: string, port: number, registry: Registry): Promise<BoundServer> {
  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics' && path !== '/stats/prometheus') return reply(res, 404, 'not found\n');
    reply(res, 200, await registry.metrics(), registry.contentType);
  });
  return listen(server, host, port);
}

export function startReadinessServer(host: string, port: number, readiness: Readiness): Promise<BoundServer> {
  const server = http.createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/healthz/ready') return reply(res, 404, 'not found\n');
    if (req.method !== 'GET') return reply(res, 405, 'method not allowed\n');
    if (readiness.ready) return reply(res, 200, 'ready\n');
    reply(res, 500, `not ready, pending: ${readiness.pendingTasks().join(', ')}\n`);
  });
  return listen(server, host, port);
}
