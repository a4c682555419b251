// Waypoint scenarios (issue: the waypoint). Namespace `bookinfo` is enrolled and bound to its
// waypoint; every request leaves an unmodified client pod, is captured by the node's ztunnel,
// tunnelled (HBONE) to the waypoint, routed there, and tunnelled again to the destination
// pod's ztunnel. The YAML is Istio's and Gateway API's documented forms.
import { netnsGate } from '@ambient/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WaypointLab } from './waypoint-lab.js';

const gate = await netnsGate('e2e/netns waypoint');

const share = (s: { pods: Record<string, number> }, pod: string, n: number) => (s.pods[pod] ?? 0) / n;

describe.skipIf(!gate.run)('waypoint (L7) on the in-box cluster', () => {
  const w = new WaypointLab();
  beforeAll(async () => {
    await w.start();
  }, 120_000);
  afterAll(async () => {
    await w.stop();
  }, 60_000);

  it('without any route: traffic to a service passes through the waypoint to its pods', async () => {
    const s = await w.load('reviews', { count: 20 });
    expect(s.statuses).toEqual({ 200: 20 });
    expect(Object.keys(s.pods).sort()).toEqual(['reviews-v1', 'reviews-v2']);
    const log = (await w.waypointLog()).filter(
      (l) => l.scope === 'access' && l['dst.service'] === 'reviews.bookinfo.svc.cluster.local',
    );
    expect(log.length).toBeGreaterThanOrEqual(20);
    expect(log[0]!['src.identity']).toBe('spiffe://cluster.local/ns/bookinfo/sa/sleep');
  });

  it('canary: weights 90/10 over 1,000 requests; header end-user: jason always goes to v2', async () => {
    await w.apply(
      'canary',
      `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: bookinfo
spec:
  hosts:
  - reviews
  http:
  - match:
    - headers:
        end-user:
          exact: jason
    route:
    - destination:
        host: reviews
        subset: v2
  - route:
    - destination:
        host: reviews
        subset: v1
      weight: 90
    - destination:
        host: reviews
        subset: v2
      weight: 10
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: reviews
  namespace: bookinfo
spec:
  host: reviews
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`,
    );
    const s = await w.load('reviews', { count: 1000, concurrency: 8 });
    expect(s.statuses).toEqual({ 200: 1000 });
    expect(share(s, 'reviews-v2', 1000)).toBeGreaterThanOrEqual(0.07);
    expect(share(s, 'reviews-v2', 1000)).toBeLessThanOrEqual(0.13);
    const jason = await w.load('reviews', { count: 50, headers: { 'end-user': 'jason' } });
    expect(jason.pods).toEqual({ 'reviews-v2': 50 });
  }, 120_000);
});
