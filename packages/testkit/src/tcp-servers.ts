// TCP test servers: an echo (returns every byte, half-close aware) and a sink (counts
// bytes; on the client's FIN answers one JSON line with the count and who sent it).
import net from 'node:net';
import { listen, plainIp, type RunningServer } from './http-echo.js';

export function startTcpEcho(port: number, host?: string): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  // allowHalfOpen: the client's FIN must not end our direction before the echo is flushed.
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    sock.pipe(sock);
  });
  return withSockets(listen(server, port, host), sockets);
}

export interface SinkReport {
  bytes: number;
  ms: number;
  source: string;
}

export function startTcpSink(port: number, host?: string): Promise<RunningServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let bytes = 0;
    let first = 0;
    sock.on('data', (chunk: Buffer) => {
      if (bytes === 0) first = performance.now();
      bytes += chunk.length;
    });
    sock.on('end', () => {
      const report: SinkReport = {
        bytes,
        ms: bytes === 0 ? 0 : performance.now() - first,
        source: plainIp(sock.remoteAddress),
      };
      sock.end(`${JSON.stringify(report)}\n`);
    });
  });
  return withSockets(listen(server, port, host), sockets);
}

async function withSockets(
  started: Promise<RunningServer>,
  sockets: Set<net.Socket>,
): Promise<RunningServer> {
  const running = await started;
  return {
    port: running.port,
    close: () => {
      for (const s of sockets) s.destroy();
      return running.close();
    },
  };
}

/** Connects, writes `data`, half-closes, and resolves with everything the peer sent back. */
export function tcpExchange(opts: {
  host: string;
  port: number;
  data: string | Buffer;
  timeoutMs?: number;
}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = net.connect({ host: opts.host, port: opts.port, allowHalfOpen: true });
    sock.setTimeout(opts.timeoutMs ?? 10_000, () =>
      sock.destroy(new Error(`no answer from ${opts.host}:${opts.port} in time`)),
    );
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.once('error', reject);
    sock.once('end', () => {
      sock.end();
      resolve(Buffer.concat(chunks));
    });
    sock.once('connect', () => sock.end(opts.data));
  });
}
