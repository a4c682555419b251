// `npm run demo -- --once` — the README's main job — runs end to end and its report shows
// each thing the mesh did; nothing is left behind.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { listNetns, netnsGate } from '@ambient/testkit';
import { describe, expect, it } from 'vitest';

const gate = await netnsGate('e2e/netns demo');
const CLI = fileURLToPath(new URL('../../apps/cli/dist/main.js', import.meta.url));

function runDemo(): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, 'demo', '--once'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGINT'), 100_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe.skipIf(!gate.run)('ambientctl demo --once', () => {
  it('reports load balancing, identities, encryption on the wire, a policy refusal, STRICT mTLS, metrics, and the waypoint: canary, faults, retries', async () => {
    const { code, out } = await runDemo();
    expect(out, out).not.toContain('demo failed');
    expect(code, out).toBe(0);
    expect(out).toMatch(/answered by: (reviews-v1 ×\d+, reviews-v2 ×\d+|reviews-v2 ×\d+, reviews-v1 ×\d+)/);
    expect(out).toContain("the apps saw the caller's own pod IP (10.244.1.2): yes");
    expect(out).toMatch(
      /node1 \(source\)\s+spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/bookinfo-productpage/,
    );
    expect(out).toMatch(
      /node2 \(destination\)\s+spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/bookinfo-productpage/,
    );
    expect(out).toContain('encrypted (HBONE: mutual TLS 1.3) — never in clear');
    expect(out).toContain('reviews-v2     → ratings: allowed (200)');
    expect(out).toContain('productpage-v1 → ratings: refused');
    expect(out).toContain('before: allowed; after STRICT: refused');
    expect(out).toMatch(
      /istio_tcp_connections_opened_total has \d+ series, [1-9]\d* with response_flags="DENY"/,
    );
    // The waypoint (L7): canary split, header routing, injected faults, retries, identities, metrics.
    const canary = /canary, 200 calls to reviews: reviews-v1 ×(\d+)(?:, reviews-v2 ×(\d+))?/.exec(out);
    expect(canary, out).not.toBeNull();
    expect(Number(canary![2] ?? 0)).toBeGreaterThan(0);
    expect(Number(canary![2] ?? 0)).toBeLessThan(50);
    expect(out).toContain('with header end-user: jason, 20 calls: reviews-v2 ×20');
    expect(out).toMatch(/fault rule \(abort 50 % with 503\), 100 calls: status 200 ×\d+, 503 ×\d+/);
    expect(out).toMatch(/20 calls: status 200 ×20 \([1-9]\d* needed a second attempt\)/);
    expect(out).toMatch(
      /productpage → waypoint\s+spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/bookinfo-productpage/,
    );
    expect(out).toMatch(
      /waypoint → reviews\s+spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/waypoint\s+spiffe:\/\/cluster\.local\/ns\/bookinfo\/sa\/bookinfo-reviews/,
    );
    expect(out).toMatch(/istio_requests_total counts [1-9]\d* requests with response_flags="FI"/);
    expect((await listNetns()).filter((n) => n.startsWith('amb-demo-'))).toEqual([]);
  });
});
