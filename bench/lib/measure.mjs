// Shared measuring helpers for the benchmarks: CPU seconds of a process from /proc, paced
// HTTP/1.1 load that measures from the scheduled send time (no coordinated omission),
// bulk throughput, and percentiles. Every loop is bounded in time and count.
import { readFileSync } from 'node:fs';
import net from 'node:net';

const TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS;
}

export function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024;
}

/**
 * RSS of each process once it has settled: read every second until no process moved by more
 * than 0.5 MB since the last reading (V8 collects garbage left by a busy phase only some time
 * after it ends), at most `maxMs`. Returns MB per pid.
 */
export async function settledRssMb(pids, maxMs = 10_000) {
  let last = pids.map(rssMb);
  const until = Date.now() + maxMs;
  while (Date.now() < until) {
    await new Promise((r) => setTimeout(r, 1000));
    const now = pids.map(rssMb);
    const settled = now.every((mb, i) => Math.abs(mb - last[i]) < 0.5);
    last = now;
    if (settled) break;
  }
  return last;
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Sends `bytes` as fast as the path takes them over a connected socket, then half-closes
 * and waits for the sink's report. Returns MiB/s (as the sink confirmed).
 */
export function bulkSend(sock, bytes, timeoutMs = 30_000) {
  return new Promise((resolve, reject) => {
    const chunk = Buffer.alloc(256 * 1024, 7);
    let sent = 0;
    let reply = '';
    const t0 = performance.now();
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`bulk send did not finish in ${timeoutMs} ms (${sent} bytes sent)`));
    }, timeoutMs);
    sock.on('data', (d) => {
      reply += d.toString();
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('end', () => {
      clearTimeout(timer);
      const report = JSON.parse(reply);
      const secs = (performance.now() - t0) / 1000;
      resolve({ mibPerSec: report.bytes / 1024 / 1024 / secs, bytes: report.bytes, seconds: secs });
    });
    const pump = () => {
      while (sent < bytes) {
        sent += chunk.length;
        if (!sock.write(chunk)) return sock.once('drain', pump);
      }
      sock.end();
    };
    pump();
  });
}

/**
 * Paced HTTP/1.1 keep-alive load: `rate` requests/s spread over the given connected
 * sockets for `seconds`. The response must carry Content-Length. Latency is measured from
 * the time each request was *scheduled*, so a slow response delays the clock of the next.
 */
export async function pacedHttp(sockets, { rate, seconds, path = '/' }) {
  const perConn = rate / sockets.length;
  const interval = 1000 / perConn;
  const total = Math.floor(perConn * seconds);
  const latencies = [];
  let errors = 0;
  await Promise.all(
    sockets.map(
      (sock, idx) =>
        new Promise((resolve) => {
          let n = 0;
          let scheduled = 0;
          const start = performance.now() + (idx * interval) / sockets.length;
          const send = () => {
            if (n >= total) return resolve();
            scheduled = start + n * interval;
            const wait = scheduled - performance.now();
            const go = () => sock.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\n\r\n`);
            if (wait > 0)
              setTimeout(go, Math.ceil(wait)); // setTimeout truncates fractions: never early
            else go();
          };
          onResponses(sock, (ok) => {
            if (!ok) errors++;
            latencies.push(performance.now() - scheduled);
            n++;
            send();
          });
          sock.on('error', () => {
            errors++;
            resolve();
          });
          send();
        }),
    ),
  );
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    errors,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    p999: percentile(latencies, 99.9),
  };
}

/**
 * Calls `onResponse(ok)` for each HTTP/1.1 response read from a keep-alive socket (responses
 * must carry Content-Length; ok = status 200).
 */
export function onResponses(sock, onResponse) {
  let buf = Buffer.alloc(0);
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    for (;;) {
      const h = buf.indexOf('\r\n\r\n');
      if (h < 0) return;
      const len = Number(/content-length:\s*(\d+)/i.exec(buf.subarray(0, h).toString())?.[1] ?? 0);
      if (buf.length < h + 4 + len) return;
      const ok = buf.subarray(0, 12).toString().includes(' 200');
      buf = buf.subarray(h + 4 + len);
      onResponse(ok);
    }
  });
}

export function connectTcp(host, port, localAddress) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true, ...(localAddress ? { localAddress } : {}) });
    s.setNoDelay(true);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}
