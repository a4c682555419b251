#!/usr/bin/env node
// L7 proxy benchmark on loopback (issue 8 benchmark, issue 10 case 4): maximum requests/s and
// CPU seconds per 10,000 requests for 1 KB responses through our waypoint's router vs nginx
// (proxy_pass, upstream keep-alive) vs haproxy (http mode), all plain HTTP/1.1 on both legs;
// then the added p99 at 1,000 requests/s over direct. Each proxy runs alone on the machine
// while measured; rounds alternate; medians of the rounds with min–max.
//   node bench/waypoint-l7.mjs [--quick]
// Not measured here: HBONE (mutual TLS) on both legs — the L4 benchmarks measure tunnels.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectTcp, cpuSeconds, median, onResponses, pacedHttp, rssMb } from './lib/measure.mjs';
import { writeResults } from './lib/report.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 3;
const SECONDS = quick ? 2 : 5;
const CONNS = 32;
const say = (m) => console.log(`[waypoint-l7] ${m}`);
const PORTS = { backend: 18080, ours: 18081, nginx: 18082, haproxy: 18083 };
const dir = mkdtempSync(path.join(tmpdir(), 'amb-bench-l7-'));
const children = [];

function start(name, cmd, args, readyPort) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const poll = () => {
      const s = http.get({ host: '127.0.0.1', port: readyPort, path: '/', agent: false }, (res) => {
        res.resume();
        resolve(child);
      });
      s.on('error', () => {
        if (Date.now() > deadline) reject(new Error(`${name} did not start: ${err}`));
        else setTimeout(poll, 100);
      });
    };
    child.once('exit', (code) => code !== 0 && reject(new Error(`${name} exited ${code}: ${err}`)));
    poll();
  });
}

function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;
}

/** Closed-loop load: CONNS keep-alive connections, as fast as responses come, for SECONDS. */
async function maxRate(port) {
  const socks = await Promise.all(Array.from({ length: CONNS }, () => connectTcp('127.0.0.1', port)));
  let done = 0;
  let errors = 0;
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    socks.map(
      (sock) =>
        new Promise((resolve) => {
          const send = () => {
            if (performance.now() >= until) return resolve();
            sock.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
          };
          onResponses(sock, (ok) => {
            if (!ok) errors++;
            done++;
            send();
          });
          sock.on('error', () => resolve());
          sock.on('close', () => resolve()); // a proxy that closes a connection ends its share
          send();
        }),
    ),
  );
  for (const s of socks) s.destroy();
  return { requests: done, errors, rps: done / SECONDS };
}

async function main() {
  if (!have('nginx') || !have('haproxy')) {
    if (process.getuid?.() === 0) {
      say('installing the peers: apt-get install -y nginx-light haproxy …');
      spawnSync('apt-get', ['install', '-y', '-q', 'nginx-light', 'haproxy'], {
        stdio: 'inherit',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    } else
      say(
        'nginx/haproxy missing: run `sudo apt-get install -y nginx-light haproxy`; their rows will be empty',
      );
  }
  say(`backend: 1 KB responses on ${PORTS.backend}`);
  const backendJs = path.join(dir, 'backend.mjs');
  writeFileSync(
    backendJs,
    `import http from 'node:http';\nconst body = Buffer.alloc(1024, 120);\nhttp.createServer({ keepAliveTimeout: 60000 }, (req, res) => { res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }); res.end(body); }).listen(${PORTS.backend}, '127.0.0.1');\n`,
  );
  await start('backend', process.execPath, [backendJs], PORTS.backend);
  const proxies = {};
  proxies.ours = await start(
    'waypoint',
    process.execPath,
    [path.join(here, 'lib', 'waypoint-front.mjs'), PORTS.ours, PORTS.backend],
    PORTS.ours,
  );
  if (have('nginx')) {
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      `daemon off;\nworker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/nginx.err;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n  keepalive_requests 10000000;\n  upstream be { server 127.0.0.1:${PORTS.backend}; keepalive 64; }\n  server {\n    listen 127.0.0.1:${PORTS.nginx};\n    location / { proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }\n  }\n}\n`,
    );
    proxies.nginx = await start('nginx', 'nginx', ['-c', conf, '-p', dir], PORTS.nginx);
  }
  if (have('haproxy')) {
    const conf = path.join(dir, 'haproxy.cfg');
    writeFileSync(
      conf,
      `global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  http-reuse always\nfrontend fe\n  bind 127.0.0.1:${PORTS.haproxy}\n  default_backend be\nbackend be\n  server s1 127.0.0.1:${PORTS.backend}\n`,
    );
    proxies.haproxy = await start('haproxy', 'haproxy', ['-f', conf, '-db'], PORTS.haproxy);
  }
  // nginx's master forks one worker: measure the worker's CPU (the master idles).
  const workerPid = (child) => {
    const kids = spawnSync('pgrep', ['-P', String(child.pid)])
      .stdout.toString()
      .trim()
      .split('\n')
      .filter(Boolean);
    return kids.length ? Number(kids[0]) : child.pid;
  };
  const pids = Object.fromEntries(
    Object.entries(proxies).map(([k, c]) => [k, k === 'nginx' ? workerPid(c) : c.pid]),
  );
  const samples = Object.fromEntries(Object.keys(proxies).map((k) => [k, []]));
  const latency = Object.fromEntries(['direct', ...Object.keys(proxies)].map((k) => [k, []]));
  for (let round = 1; round <= ROUNDS; round++) {
    for (const name of Object.keys(proxies)) {
      say(`round ${round}/${ROUNDS}: ${name} — max requests/s for ${SECONDS} s over ${CONNS} connections`);
      await maxRate(PORTS[name]); // warm-up of pools and JIT, not counted
      const c0 = cpuSeconds(pids[name]);
      const r = await maxRate(PORTS[name]);
      const cpu = cpuSeconds(pids[name]) - c0;
      samples[name].push({
        ...r,
        cpuSeconds: cpu,
        perCore: r.requests / Math.max(cpu, 0.01),
        cpuPer10k: (cpu / r.requests) * 10_000,
        rssMb: rssMb(pids[name]),
      });
    }
    for (const name of ['direct', ...Object.keys(proxies)]) {
      say(`round ${round}/${ROUNDS}: ${name} — 1,000 requests/s for ${SECONDS} s, latency`);
      const port = name === 'direct' ? PORTS.backend : PORTS[name];
      const socks = await Promise.all(Array.from({ length: 4 }, () => connectTcp('127.0.0.1', port)));
      latency[name].push(await pacedHttp(socks, { rate: 1000, seconds: SECONDS }));
      for (const s of socks) s.destroy();
    }
  }
  const rows = {};
  const med = (xs, f) => median(xs.map(f));
  const span = (xs, f, d = 0) => `${Math.min(...xs.map(f)).toFixed(d)}–${Math.max(...xs.map(f)).toFixed(d)}`;
  const directP99 = med(latency.direct, (s) => s.p99);
  for (const name of Object.keys(proxies)) {
    const s = samples[name];
    rows[name] = {
      'req/s': `${med(s, (x) => x.rps).toFixed(0)} (${span(s, (x) => x.rps)})`,
      'req/s per core': med(s, (x) => x.perCore).toFixed(0),
      'CPU-s/10k req': med(s, (x) => x.cpuPer10k).toFixed(2),
      'p99 @1k/s ms': med(latency[name], (x) => x.p99).toFixed(2),
      'added p99 ms': (med(latency[name], (x) => x.p99) - directP99).toFixed(2),
      'RSS MB': med(s, (x) => x.rssMb).toFixed(0),
      errors: s.reduce((a, x) => a + x.errors, 0),
    };
  }
  rows.direct = { 'p99 @1k/s ms': directP99.toFixed(2) };
  console.log('\nL7, plain HTTP/1.1 on both legs, 1 KB responses (medians of rounds):');
  console.table(rows);
  const ours = med(samples.ours, (x) => x.perCore);
  say(
    `ours: ${ours.toFixed(0)} requests/s per core (target ≥ 4,000); added p99 ${rows.ours['added p99 ms']} ms (target < 1 ms)`,
  );
  if (samples.nginx)
    say(
      `ours / nginx per core: ${(ours / med(samples.nginx, (x) => x.perCore)).toFixed(2)} (target ≥ 0.5 against nginx with mTLS)`,
    );
  const file = writeResults(here, 'waypoint-l7', {
    quick,
    rounds: ROUNDS,
    seconds: SECONDS,
    connections: CONNS,
    rows,
    samples,
    latency,
  });
  say(`raw samples: ${path.relative(process.cwd(), file)}`);
}

main()
  .catch((err) => {
    console.error(`[waypoint-l7] failed: ${err.message}`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGTERM');
  });
