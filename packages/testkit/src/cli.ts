#!/usr/bin/env node
// `testkit` — the test apps and clients as a command, so they can run inside a pod's
// network namespace (`ip netns exec <pod> testkit http-echo --port 8080`).
import { Command, InvalidArgumentError } from 'commander';
import { grpcCalls, startGrpcEcho } from './grpc-echo.js';
import { startHttpEcho } from './http-echo.js';
import { httpLoad } from './http-load.js';
import { startTcpEcho, startTcpSink, tcpExchange } from './tcp-servers.js';

const program = new Command('testkit').description('test apps and clients for the ambient mesh tests');

const int = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`"${v}" is not a non-negative integer`);
  return n;
};
const ratio = (v: string) => {
  const n = Number(v);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`"${v}" is not a number between 0 and 1`);
  return n;
};

function parseHeaders(list: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of list) {
    const i = h.indexOf(':');
    if (i <= 0) throw new InvalidArgumentError(`header "${h}" is not "name: value"`);
    headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
  }
  return headers;
}

function serveUntilSignal(what: string, port: number, close: () => Promise<void>): void {
  // One line tests can wait for: "<what> listening on <port>".
  console.log(`${what} listening on ${port}`);
  const stop = () => void close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

program
  .command('http-echo')
  .description('HTTP server that answers with what it received')
  .requiredOption('--port <n>', 'port to listen on', int)
  .option('--host <ip>', 'address to bind (default: all, dual-stack)')
  .option('--name <pod>', 'pod name reported in answers (default: $POD_NAME)')
  .option('--fail-ratio <r>', 'share of requests to fail (0..1)', ratio, 0)
  .option('--fail-status <n>', 'status for failed requests', int, 503)
  .option('--fail-every <n>', 'fail every n-th request (deterministic)', int, 0)
  .option('--delay-ms <n>', 'delay every answer', int, 0)
  .action(async (o) => {
    const s = await startHttpEcho({
      port: o.port,
      host: o.host,
      podName: o.name ?? process.env.POD_NAME ?? 'unknown',
      failRatio: o.failRatio,
      failStatus: o.failStatus,
      failEvery: o.failEvery,
      delayMs: o.delayMs,
    });
    serveUntilSignal('http-echo', s.port, s.close);
  });

program
  .command('tcp-echo')
  .description('TCP echo server (half-close aware)')
  .requiredOption('--port <n>', 'port to listen on', int)
  .option('--host <ip>', 'address to bind')
  .action(async (o) => {
    const s = await startTcpEcho(o.port, o.host);
    serveUntilSignal('tcp-echo', s.port, s.close);
  });

program
  .command('tcp-sink')
  .description('TCP sink: counts bytes, answers a JSON report on FIN')
  .requiredOption('--port <n>', 'port to listen on', int)
  .option('--host <ip>', 'address to bind')
  .action(async (o) => {
    const s = await startTcpSink(o.port, o.host);
    serveUntilSignal('tcp-sink', s.port, s.close);
  });

program
  .command('http-get <url>')
  .description('one HTTP request; prints {"status":N,"body":…} as JSON')
  .option('-H, --header <k:v...>', 'request header', [])
  .option('-X, --method <m>', 'method', 'GET')
  .option('--timeout-ms <n>', 'give up after', int, 10_000)
  .action(async (url: string, o) => {
    // Failure unless a reply is printed: when a peer resets the connection, fetch can stay
    // pending with nothing left to keep the event loop alive (AbortSignal.timeout's timer is
    // unref'd), and Node would exit 0 without a word.
    process.exitCode = 1;
    const headers = parseHeaders(o.header as string[]);
    const res = await fetch(url, { method: o.method, headers, signal: AbortSignal.timeout(o.timeoutMs) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    console.log(JSON.stringify({ status: res.status, headers: Object.fromEntries(res.headers), body }));
    process.exitCode = 0;
  });

program
  .command('http-load <url>')
  .description('many HTTP requests; prints a JSON summary (statuses, answering pods, latency)')
  .option('-H, --header <k:v...>', 'request header', [])
  .option('-X, --method <m>', 'method', 'GET')
  .option('-n, --count <n>', 'requests', int, 100)
  .option('-c, --concurrency <n>', 'requests in flight', int, 1)
  .option('--timeout-ms <n>', 'per request', int, 10_000)
  .action(async (url: string, o) => {
    const summary = await httpLoad({
      url,
      method: o.method,
      headers: parseHeaders(o.header as string[]),
      count: o.count,
      concurrency: o.concurrency,
      timeoutMs: o.timeoutMs,
    });
    console.log(JSON.stringify(summary));
  });

program
  .command('grpc-echo')
  .description('gRPC server (/testkit.Echo/Echo, raw bytes) that echoes, optionally failing')
  .requiredOption('--port <n>', 'port to listen on', int)
  .option('--name <pod>', 'pod name in answers')
  .option('--fail-every <n>', 'answer UNAVAILABLE to every n-th call', int, 0)
  .action(async (o) => {
    const s = await startGrpcEcho({ port: o.port, podName: o.name ?? 'unknown', failEvery: o.failEvery });
    serveUntilSignal('grpc-echo', s.port, s.close);
  });

program
  .command('grpc-call <target>')
  .description('unary calls to /testkit.Echo/Echo at host:port; prints a JSON summary of status codes')
  .option('-n, --count <n>', 'calls', int, 10)
  .option('--timeout-ms <n>', 'deadline per call', int, 10_000)
  .action(async (target: string, o) => {
    console.log(JSON.stringify(await grpcCalls({ target, count: o.count, timeoutMs: o.timeoutMs })));
  });

program
  .command('tcp-send <host> <port>')
  .description('connect, send data, half-close, print what comes back')
  .requiredOption('--data <text>', 'what to send')
  .option('--timeout-ms <n>', 'give up after', int, 10_000)
  .action(async (host: string, port: string, o) => {
    const reply = await tcpExchange({ host, port: int(port), data: o.data, timeoutMs: o.timeoutMs });
    process.stdout.write(reply);
  });

program.parseAsync().catch((err: unknown) => {
  const e = err as Error & { cause?: Error };
  console.error(`testkit: ${e.message}${e.cause ? ` (${e.cause.message})` : ''}`);
  process.exit(1);
});
