// Noisy neighbour (issue: no peer can take a proxy down): while one client floods the waypoint
// with the abuse that used to stall it — paths aimed at a backtracking-prone route regex, and
// request bodies that never finish — another client sends requests at a fixed rate; every one
// of the victim's requests succeeds and its p99 stays under a stated bound. Before the fixes a
// single such path held the event loop for 4.4 s. Real sockets on loopback, bounded in time.
// The never-ending uploads are bounded (200 held at once), as a flood from one client would be
// by its connection limits.
import http from 'node:http';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoHarness } from './harness.js';

const VICTIM_RPS = 50;
const SECONDS = 3;
const P99_BOUND_MS = 500;

function get(port: number, path: string, agent: http.Agent): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(5000, () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

describe('noisy neighbour', () => {
  let port: number;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ port, close } = await echoHarness({ maxBufferedBytes: 1024 * 1024 }, [
      { name: 'evil', match: { safeRegex: { regex: '/api/(a+)+' } }, route: { cluster: 'app', timeout: {} } },
    ]));
  });
  afterAll(() => close());

  it(`a victim at ${VICTIM_RPS} req/s keeps p99 < ${P99_BOUND_MS} ms and loses nothing while a neighbour floods`, async () => {
    const stopAt = Date.now() + SECONDS * 1000;
    let abusive = 0;
    const sockets: net.Socket[] = [];
    const attacker = (async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
      while (Date.now() < stopAt) {
        // A path that made the JS RegExp backtrack for seconds, and (up to 200 held at once,
        // a bounded flood) uploads that never end.
        const evil = get(port, `/api/${'a'.repeat(28)}!`, agent);
        if (sockets.length < 200) {
          const s = net.connect(port, '127.0.0.1');
          s.on('error', () => {});
          s.write(
            `POST /up HTTP/1.1\r\nHost: svc\r\nContent-Length: 10000000\r\n\r\n${'x'.repeat(64 * 1024)}`,
          );
          sockets.push(s);
          abusive++;
        }
        await evil;
        abusive++;
      }
      agent.destroy();
    })();
    const victimAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const latencies: number[] = [];
    const statuses: number[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < VICTIM_RPS * SECONDS; i++) {
      const t = performance.now();
      pending.push(
        get(port, '/ok', victimAgent).then((s) => {
          statuses.push(s);
          latencies.push(performance.now() - t);
        }),
      );
      await new Promise((r) => setTimeout(r, 1000 / VICTIM_RPS));
    }
    await Promise.all(pending);
    await attacker;
    for (const s of sockets) s.destroy();
    victimAgent.destroy();
    latencies.sort((a, b) => a - b);
    const p99 = latencies[Math.floor(latencies.length * 0.99)]!;
    console.log(
      `noisy neighbour: ${statuses.length} victim requests, ${statuses.filter((s) => s !== 200).length} failed, p50 ${latencies[Math.floor(latencies.length / 2)]!.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms; ${abusive} abusive requests`,
    );
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(p99).toBeLessThan(P99_BOUND_MS);
    expect(abusive).toBeGreaterThan(20);
  }, 30_000);
});
