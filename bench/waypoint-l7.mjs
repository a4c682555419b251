#!/usr/bin/env node
// L7 proxy benchmark on loopback (issue 8 benchmark, issue 10 case 4): maximum requests/s and
// CPU seconds per 10,000 requests for 1 KB responses through our waypoint vs nginx
// (proxy_pass, upstream keep-alive) vs haproxy (http mode), one worker each, twice:
//   plain — HTTP/1.1 on both legs; ours is the waypoint's router and upstream pools behind an
//           HTTP/1.1 listener;
//   mTLS  — mutual TLS 1.3 on both legs (EC P-256, chains verified): the peers terminate TLS
//           from the client and originate TLS to the backend; ours is the waypoint as deployed,
//           HBONE in (HTTP/2 CONNECT over mutual TLS) and HBONE out to the backend's tunnel
//           listener — the same cryptographic work, plus HBONE's HTTP/2 framing.
// Then the added p99 at 1,000 requests/s over direct. Each proxy is loaded alone while
// measured; rounds alternate; medians of the rounds with min–max.
//   node bench/waypoint-l7.mjs [--quick] [--only <text>] [--cpu-prof]
// --only <text>: only the cases whose name contains it (e.g. "ours (mTLS)").
// --cpu-prof: our processes write V8 CPU profiles to bench/results/profiles/ (summarise one
// with `node bench/lib/profile-top.mjs <file>`).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { HbonePool } from '@ambient/hbone';
import { CertificateAuthority, clientTlsOptions } from '@ambient/mtls';
import { issueBenchCert } from './lib/certs.mjs';
import { connectTcp, cpuSeconds, median, onResponses, pacedHttp, rssMb } from './lib/measure.mjs';
import { writeResults } from './lib/report.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 1 : 3;
const SECONDS = quick ? 2 : 5;
const WARMUP_SECONDS = quick ? 1 : 2;
const CONNS = 32;
const onlyArg = process.argv.indexOf('--only');
const only = onlyArg > 0 ? process.argv[onlyArg + 1] : undefined;
const PROFILE_DIR = path.join(here, 'results', 'profiles');
const nodeFlags = [
  ...(process.argv.includes('--cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : []),
  // BENCH_WAYPOINT_NODE_ARGS: extra node options for our processes (experiments).
  ...(process.env.BENCH_WAYPOINT_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
];
const say = (m) => console.log(`[waypoint-l7] ${m}`);
const BACKEND = { plain: 18080, tls: 18090, hboneIp: '127.0.0.2', hbone: 18091 };
const VIP = '10.96.0.1:9080'; // the service the waypoint front serves (any authority goes to it)
const dir = mkdtempSync(path.join(tmpdir(), 'amb-bench-l7-'));
const children = [];

/** Starts a process and waits until `readyPort` (on `readyHost`) accepts TCP connections. */
function start(name, cmd, args, readyPort, readyHost = '127.0.0.1') {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 10_000;
    const poll = () => {
      const s = net.connect(readyPort, readyHost, () => {
        s.destroy();
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

/** Closed-loop load: CONNS keep-alive connections, as fast as responses come, for `seconds`. */
async function maxRate(connect, seconds) {
  const socks = await Promise.all(Array.from({ length: CONNS }, () => connect()));
  let done = 0;
  let errors = 0;
  const until = performance.now() + seconds * 1000;
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
  return { requests: done, errors, rps: done / seconds };
}

function installPeers() {
  if (have('nginx') && have('haproxy')) return;
  if (process.getuid?.() === 0) {
    say('installing the peers: apt-get install -y nginx-light haproxy …');
    spawnSync('apt-get', ['install', '-y', '-q', 'nginx-light', 'haproxy'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } else
    say('nginx/haproxy missing: run `sudo apt-get install -y nginx-light haproxy`; their rows will be empty');
}

function nginxConf(name, port, cert) {
  const upstream = cert
    ? `upstream be { server 127.0.0.1:${BACKEND.tls}; keepalive 64; }`
    : `upstream be { server 127.0.0.1:${BACKEND.plain}; keepalive 64; }`;
  // proxy_ssl_verify stays off: nginx matches the upstream certificate against a DNS name and
  // ours carry only a SPIFFE URI. Upstream connections are pooled, so the verification it skips
  // happens a few dozen times per run — not per request.
  const tlsIn = cert
    ? ` ssl;\n    ssl_certificate ${cert.files.cert};\n    ssl_certificate_key ${cert.files.key};\n    ssl_client_certificate ${cert.files.root};\n    ssl_verify_client on;\n    ssl_protocols TLSv1.3`
    : '';
  const tlsOut = cert
    ? ` proxy_ssl_certificate ${cert.files.cert}; proxy_ssl_certificate_key ${cert.files.key}; proxy_ssl_protocols TLSv1.3; proxy_ssl_session_reuse on;`
    : '';
  const d = path.join(dir, name);
  mkdirSync(d, { recursive: true });
  const conf = path.join(d, 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;\nworker_processes 1;\npid ${d}/nginx.pid;\nerror_log ${d}/nginx.err;\nevents { worker_connections 4096; }\nhttp {\n  access_log off;\n  keepalive_requests 10000000;\n  ${upstream}\n  server {\n    listen 127.0.0.1:${port}${tlsIn};\n    location / { proxy_pass ${cert ? 'https' : 'http'}://be; proxy_http_version 1.1; proxy_set_header Connection "";${tlsOut} }\n  }\n}\n`,
  );
  return ['-c', conf, '-p', d];
}

function haproxyConf(name, port, cert) {
  let pem = '';
  if (cert) {
    // haproxy wants the certificate and its key in one file.
    pem = path.join(dir, `${name}-combined.pem`);
    writeFileSync(pem, readFileSync(cert.files.cert, 'utf8') + readFileSync(cert.files.key, 'utf8'));
  }
  const tlsArgs = cert
    ? ` ssl crt ${pem} ca-file ${cert.files.root} verify required ssl-min-ver TLSv1.3`
    : '';
  const conf = path.join(dir, `${name}.cfg`);
  writeFileSync(
    conf,
    `global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  http-reuse always\nfrontend fe\n  bind 127.0.0.1:${port}${tlsArgs}\n  default_backend be\nbackend be\n  server s1 127.0.0.1:${cert ? BACKEND.tls : BACKEND.plain}${tlsArgs}\n`,
  );
  return ['-f', conf, '-db'];
}

/** nginx's master forks one worker: its CPU is the worker's (the master idles). */
function workerPid(child) {
  const kids = spawnSync('pgrep', ['-P', String(child.pid)])
    .stdout.toString()
    .trim()
    .split('\n')
    .filter(Boolean);
  return kids.length ? Number(kids[0]) : child.pid;
}

async function main() {
  installPeers();
  const ca = await CertificateAuthority.loadOrCreate(path.join(dir, 'ca'));
  const certs = Object.fromEntries(
    ['backend', 'waypoint', 'nginx', 'haproxy', 'client'].map((n) => [n, issueBenchCert(ca, dir, n)]),
  );
  say(
    `backend: 1 KB responses — plain on ${BACKEND.plain}, mutual TLS on ${BACKEND.tls}, HBONE on ${BACKEND.hboneIp}:${BACKEND.hbone}`,
  );
  await start(
    'backend',
    process.execPath,
    [
      path.join(here, 'lib', 'l7-backend.mjs'),
      BACKEND.plain,
      dir,
      BACKEND.tls,
      BACKEND.hboneIp,
      BACKEND.hbone,
    ].map(String),
    BACKEND.hbone, // its last listener
    BACKEND.hboneIp,
  );

  // Each case: how to start it, and how a client connects to it (a socket or a tunnel).
  const hbonePool = new HbonePool({
    tlsFor: (key) => clientTlsOptions(certs.client.workload, key.dstIdentities),
    idleTimeoutMs: 60_000,
  });
  const tlsClient = clientTlsOptions(certs.client.workload, []);
  const connectTls = (port) =>
    new Promise((resolve, reject) => {
      // Chain verified against our root; the SPIFFE identity check is HBONE's and off here.
      const s = tls.connect({
        ...tlsClient,
        host: '127.0.0.1',
        port,
        ALPNProtocols: ['http/1.1'],
        checkServerIdentity: () => undefined,
      });
      s.setNoDelay(true);
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });
  const front = path.join(here, 'lib', 'waypoint-front.mjs');
  const cases = [
    {
      name: 'ours',
      mode: 'plain',
      port: 18081,
      cmd: [process.execPath, [...nodeFlags, front, '18081', String(BACKEND.plain)]],
    },
    { name: 'nginx', mode: 'plain', port: 18082, cmd: ['nginx', nginxConf('nginx-plain', 18082)] },
    { name: 'haproxy', mode: 'plain', port: 18083, cmd: ['haproxy', haproxyConf('haproxy-plain', 18083)] },
    {
      name: 'ours',
      mode: 'mTLS',
      port: 18084,
      cmd: [
        process.execPath,
        [
          ...nodeFlags,
          front,
          '18084',
          String(BACKEND.plain),
          '--hbone',
          dir,
          BACKEND.hboneIp,
          String(BACKEND.hbone),
        ],
      ],
      connect: () =>
        hbonePool.connect(
          {
            srcIdentity: certs.client.identity,
            dstIdentities: [certs.waypoint.identity],
            dstIp: '127.0.0.1',
            dstPort: 18084,
          },
          { authority: VIP },
        ),
    },
    { name: 'nginx', mode: 'mTLS', port: 18085, cmd: ['nginx', nginxConf('nginx-mtls', 18085, certs.nginx)] },
    {
      name: 'haproxy',
      mode: 'mTLS',
      port: 18086,
      cmd: ['haproxy', haproxyConf('haproxy-mtls', 18086, certs.haproxy)],
    },
  ]
    .map((c) => ({ ...c, key: `${c.name} (${c.mode})` }))
    .filter((c) => (have(c.cmd[0]) || c.cmd[0] === process.execPath) && (!only || c.key.includes(only)));
  for (const c of cases) {
    c.connect ??= c.mode === 'mTLS' ? () => connectTls(c.port) : () => connectTcp('127.0.0.1', c.port);
    const child = await start(c.key, c.cmd[0], c.cmd[1], c.port);
    c.pid = c.name === 'nginx' ? workerPid(child) : child.pid;
  }

  const samples = Object.fromEntries(cases.map((c) => [c.key, []]));
  const latency = Object.fromEntries(['direct', ...cases.map((c) => c.key)].map((k) => [k, []]));
  const direct = { key: 'direct', connect: () => connectTcp('127.0.0.1', BACKEND.plain) };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const c of cases) {
      say(`round ${round}/${ROUNDS}: ${c.key} — max requests/s for ${SECONDS} s over ${CONNS} connections`);
      await maxRate(c.connect, WARMUP_SECONDS); // warm-up of pools and JIT, not counted
      const c0 = cpuSeconds(c.pid);
      const r = await maxRate(c.connect, SECONDS);
      const cpu = cpuSeconds(c.pid) - c0;
      samples[c.key].push({
        ...r,
        cpuSeconds: cpu,
        perCore: r.requests / Math.max(cpu, 0.01),
        cpuPer10k: (cpu / r.requests) * 10_000,
        rssMb: rssMb(c.pid),
      });
    }
    for (const c of [direct, ...cases]) {
      say(`round ${round}/${ROUNDS}: ${c.key} — 1,000 requests/s for ${SECONDS} s, latency`);
      const socks = await Promise.all(Array.from({ length: 4 }, () => c.connect()));
      const lat = await pacedHttp(socks, { rate: 1000, seconds: SECONDS });
      latency[c.key].push(c.pid ? { ...lat, rssMb: rssMb(c.pid) } : lat); // RSS at 1,000 requests/s
      for (const s of socks) s.destroy();
    }
  }
  hbonePool.close();

  const rows = {};
  const med = (xs, f) => median(xs.map(f));
  const span = (xs, f, d = 0) => `${Math.min(...xs.map(f)).toFixed(d)}–${Math.max(...xs.map(f)).toFixed(d)}`;
  const directP99 = med(latency.direct, (s) => s.p99);
  for (const c of cases) {
    const s = samples[c.key];
    rows[c.key] = {
      'req/s': `${med(s, (x) => x.rps).toFixed(0)} (${span(s, (x) => x.rps)})`,
      'req/s per core': med(s, (x) => x.perCore).toFixed(0),
      'CPU-s/10k req': med(s, (x) => x.cpuPer10k).toFixed(2),
      'p99 @1k/s ms': med(latency[c.key], (x) => x.p99).toFixed(2),
      'added p99 ms': (med(latency[c.key], (x) => x.p99) - directP99).toFixed(2),
      'RSS MB (max / 1k req/s)': `${med(s, (x) => x.rssMb).toFixed(0)} / ${med(latency[c.key], (x) => x.rssMb).toFixed(0)}`,
      errors: s.reduce((a, x) => a + x.errors, 0) + latency[c.key].reduce((a, x) => a + x.errors, 0),
    };
  }
  rows.direct = { 'p99 @1k/s ms': directP99.toFixed(2) };
  console.log('\nL7, 1 KB responses, plain HTTP/1.1 and mutual TLS 1.3 on both legs (medians of rounds):');
  console.table(rows);
  const perCore = (key) => (samples[key] ? med(samples[key], (x) => x.perCore) : undefined);
  for (const mode of ['plain', 'mTLS']) {
    const ours = perCore(`ours (${mode})`);
    const nginx = perCore(`nginx (${mode})`);
    if (ours === undefined) continue;
    say(
      `${mode}: ours ${ours.toFixed(0)} requests/s per core (target ≥ 4,000), added p99 ${rows[`ours (${mode})`]['added p99 ms']} ms (target < 1 ms)` +
        (nginx
          ? `; ours / nginx per core ${(ours / nginx).toFixed(2)}${mode === 'mTLS' ? ' (target ≥ 0.5)' : ''}`
          : ''),
    );
  }
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
  .finally(async () => {
    // Wait for each to exit (a profiled process writes its profile on the way out).
    await Promise.all(
      children.map(
        (c) =>
          new Promise((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', resolve);
            c.kill('SIGTERM');
            setTimeout(() => {
              c.kill('SIGKILL');
              resolve();
            }, 5000).unref();
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
    process.exit();
  });
