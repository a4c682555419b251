// In-pod capture scenarios (issue: in-pod traffic capture). Applications are unmodified: they
// connect to pod IPs as usual and the mesh happens underneath them.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { dumpPodRules } from '@ambient/netsys';
import { netnsGate, testkitCli } from '@ambient/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureLab } from './capture-lab.js';

const gate = await netnsGate('e2e/netns in-pod capture');
const ID = (ns: string, sa: string) => `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
// Istio's documented forms, unchanged.
const STRICT = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata:
  name: default
  namespace: shop
spec:
  mtls:
    mode: STRICT
`;
const L4_POLICIES = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: reviews-from-frontend
  namespace: shop
spec:
  selector:
    matchLabels:
      app: reviews
  action: ALLOW
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/shop/sa/frontend"]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: no-9090
  namespace: shop
spec:
  selector:
    matchLabels:
      app: ratings
  action: DENY
  rules:
  - to:
    - operation:
        ports: ["9090"]
`;

describe.skipIf(!gate.run)('in-pod capture on the network-namespace lab', () => {
  const c = new CaptureLab();
  beforeAll(() => c.start(), 120_000);
  afterAll(() => c.stop(), 60_000);

  it('pod → pod across nodes goes through both ztunnels: client IP kept, identities logged, only TLS on the wire', async () => {
    const pcap = path.join(c.dir, 'underlay.pcap');
    const dump = await c.sup.start({
      name: 'tcpdump-node1',
      command: 'tcpdump',
      args: ['-i', 'eth0', '--immediate-mode', '-U', '-s', '0', '-w', pcap, 'tcp'],
      netns: c.lab.node('node1').netns,
      ready: { log: /listening on eth0/ },
    });
    const marker = 'MARKER-7f3a9c-secret';
    const res = await c.get('shop-a1', 'shop-b1', 8080, { 'x-marker': marker });
    // Positive control: plain traffic to the legacy pod crosses the same link in clear.
    const control = 'CLEARTEXT-CONTROL-55d1';
    const plain = await c.get('shop-a1', 'legacy-1', 8080, { 'x-marker': control });
    await new Promise((r) => setTimeout(r, 300)); // let tcpdump write what it has seen
    await dump.stop();
    expect(res.ok && res.status).toBe(200);
    expect(res.ok && res.body).toMatchObject({ pod: 'shop-b1', source: { address: c.pod('shop-a1').ip } });
    expect(res.ok && res.body.headers['x-marker']).toBe(marker); // the app got it
    expect(plain.ok).toBe(true);
    const wire = readFileSync(pcap);
    expect(wire.includes(Buffer.from(control))).toBe(true); // the capture saw the link
    expect(wire.includes(Buffer.from(marker))).toBe(false); // the mesh carried it encrypted
    const out = (await c.logLines('node1')).find(
      (l) => l.direction === 'outbound' && l['dst.hbone_addr'] === `${c.pod('shop-b1').ip}:8080`,
    );
    const inn = (await c.logLines('node2')).find(
      (l) => l.direction === 'inbound' && l['dst.hbone_addr'] === `${c.pod('shop-b1').ip}:8080`,
    );
    expect(out).toMatchObject({
      'src.identity': ID('shop', 'frontend'),
      'dst.identity': ID('shop', 'reviews'),
      'dst.addr': `${c.pod('shop-b1').ip}:15008`,
    });
    expect(inn).toMatchObject({
      'src.identity': ID('shop', 'frontend'),
      'dst.identity': ID('shop', 'reviews'),
    });
  });

  it("enrolled → not enrolled: plain TCP passthrough, from the pod's own IP", async () => {
    const res = await c.get('shop-a2', 'legacy-1');
    expect(res.ok && res.body).toMatchObject({ pod: 'legacy-1', source: { address: c.pod('shop-a2').ip } });
  });

  it('not enrolled → enrolled: allowed under PERMISSIVE, refused under STRICT', async () => {
    const permissive = await c.get('legacy-1', 'shop-a1');
    expect(permissive.ok && permissive.body).toMatchObject({
      pod: 'shop-a1',
      source: { address: c.pod('legacy-1').ip },
    });
    await c.applyPolicies('strict', STRICT);
    try {
      expect((await c.get('legacy-1', 'shop-a1')).ok).toBe(false);
      // mTLS traffic is still allowed under STRICT.
      expect((await c.get('shop-b1', 'shop-a1')).ok).toBe(true);
    } finally {
      await c.applyPolicies('strict', undefined);
    }
    expect((await c.get('legacy-1', 'shop-a1')).ok).toBe(true);
  });

  it('L4 AuthorizationPolicy: ALLOW by principal and DENY by port', async () => {
    await c.applyPolicies('l4', L4_POLICIES);
    try {
      expect((await c.get('shop-a1', 'shop-b1')).ok).toBe(true); // frontend → reviews: allowed
      expect((await c.get('shop-a2', 'shop-b1')).ok).toBe(false); // other → reviews: not allowed
      expect((await c.get('shop-a2', 'shop-b2')).ok).toBe(true); // no ALLOW policy on ratings
      const denied = await c.lab.exec(
        'shop-a1',
        process.execPath,
        [testkitCli, 'tcp-send', c.pod('shop-b2').ip, '9090', '--data', 'x', '--timeout-ms', '3000'],
        { allowFailure: true },
      );
      expect(denied.stdout).toBe(''); // port 9090 denied: no echo
      const log = (await c.logLines('node2')).find(
        (l) => l.response_flags === 'DENY' && String(l['dst.hbone_addr']).endsWith(':9090'),
      );
      expect(log).toMatchObject({ error: 'explicitly denied by: shop/no-9090' });
    } finally {
      await c.applyPolicies('l4', undefined);
    }
  });

  it('ztunnel restart: traffic fails while it is down, works after, and the rules are not duplicated', async () => {
    const b1 = `/var/run/netns/${c.pod('shop-b1').netns}`;
    const before = await dumpPodRules(b1);
    await c.ztunnels.get('node2')!.stop(5000);
    // The rules stay while ztunnel is down: the pod's traffic fails closed, never bypasses the mesh.
    expect(await dumpPodRules(b1)).toBe(before);
    expect((await c.get('shop-a1', 'shop-b1')).ok).toBe(false);
    await c.startZtunnel('node2');
    expect((await c.get('shop-a1', 'shop-b1')).ok).toBe(true);
    const after = await dumpPodRules(b1);
    expect(after).toBe(before);
    expect(after.match(/REDIRECT --to-ports 15001/g)).toHaveLength(1);
  });

  it('workloads come and go: a pod whose namespace is unknown is pending in readiness; a deleted pod loses its rules', async () => {
    const ready = async () => {
      const r = await c.lab.exec('node1', process.execPath, [
        testkitCli,
        'http-get',
        'http://127.0.0.1:15021/healthz/ready',
      ]);
      const { status, body } = JSON.parse(r.stdout) as { status: number; body: string };
      return { status, body };
    };
    // A local pod with no namespace ztunnel can find (no annotation, no visible processes).
    await c.applyPolicies(
      'ghost',
      'apiVersion: v1\nkind: Pod\nmetadata: {name: ghost, namespace: shop}\nspec: {nodeName: node1, serviceAccountName: ghost, containers: [{name: app}]}\nstatus: {phase: Running, podIP: 10.244.1.99}\n',
    );
    expect(await ready()).toEqual({ status: 500, body: 'not ready, pending: pod shop/ghost\n' });
    await c.applyPolicies('ghost', undefined);
    expect(await ready()).toEqual({ status: 200, body: 'ready\n' });

    const a2 = `/var/run/netns/${c.pod('shop-a2').netns}`;
    expect(await dumpPodRules(a2)).toContain('REDIRECT --to-ports 15001');
    await c.setPodsAbsent(['shop-a2']);
    try {
      expect(await dumpPodRules(a2)).toBe('');
      const listening = await c.lab.exec('shop-a2', 'ss', ['-Hltn', 'sport = :15008']);
      expect(listening.stdout.trim()).toBe('');
    } finally {
      await c.setPodsAbsent([]);
    }
    expect(await dumpPodRules(a2)).toContain('REDIRECT --to-ports 15001');
  });

  it("no loops: a pod cannot reach ztunnel's own ports, and ztunnel's own traffic is never captured", async () => {
    const a1 = c.pod('shop-a1');
    for (const [host, port] of [
      ['127.0.0.1', 15001],
      ['127.0.0.1', 15006],
      [a1.ip, 15006],
    ] as const) {
      const r = await c.lab.exec(
        'shop-a1',
        process.execPath,
        [testkitCli, 'tcp-send', host, String(port), '--data', 'loop?', '--timeout-ms', '3000'],
        { allowFailure: true },
      );
      expect(r.stdout, `${host}:${port}`).toBe('');
    }
    const linesBefore = (await c.logLines('node1')).length;
    expect((await c.get('shop-a1', 'shop-b2')).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    const added = (await c.logLines('node1'))
      .slice(linesBefore)
      .filter((l) => l.message === 'connection complete');
    // Exactly one outbound record: the app's connection. A captured HBONE dial would show up
    // as a second, plain connection to port 15008.
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({ direction: 'outbound', 'dst.addr': `${c.pod('shop-b2').ip}:15008` });
  });
});
