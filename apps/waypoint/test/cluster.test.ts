// Load balancing rules of an upstream cluster (shared spec waypoint.md §2.2, §2.4): unhealthy
// endpoints are skipped, panic mode uses every endpoint when the healthy share falls below the
// threshold (Envoy's 50 % by default, Istio's 0 when outlier detection is set), retries avoid the
// hosts already tried.
import { Cluster, ClusterLoadAssignment } from '@ambient/proto';
import { describe, expect, it } from 'vitest';
import { UpstreamCluster } from '../src/upstream/cluster.js';

function cluster(health: number[], extra: object = {}) {
  const c = new UpstreamCluster('c', async () => {
    throw new Error('no connections in this test');
  });
  c.applyCluster(Cluster.create({ name: 'c', type: 3, lbPolicy: 0, ...extra }));
  c.applyEndpoints(
    ClusterLoadAssignment.create({
      clusterName: 'c',
      endpoints: [
        {
          lbEndpoints: health.map((h, i) => ({
            endpoint: { address: { socketAddress: { address: `10.0.0.${i + 1}`, portValue: 80 } } },
            healthStatus: h,
          })),
        },
      ],
    }),
  );
  return c;
}
const picks = (c: UpstreamCluster, n: number, exclude?: Set<string>, attempts = 1) =>
  new Set(Array.from({ length: n }, () => c.choose(undefined, exclude, attempts)?.key));

describe('upstream cluster', () => {
  it('skips unhealthy endpoints while half or more are healthy', () => {
    expect(picks(cluster([1, 1, 2]), 30)).toEqual(new Set(['10.0.0.1:80', '10.0.0.2:80']));
  });

  it('panics below 50 % healthy: every endpoint takes traffic; with panic threshold 0 it never does', () => {
    expect(picks(cluster([1, 2, 2]), 30).size).toBe(3);
    const od = { outlierDetection: {}, commonLbConfig: { healthyPanicThreshold: { value: 0 } } };
    const c = cluster([1, 2, 2], od);
    expect(picks(c, 30)).toEqual(new Set(['10.0.0.1:80']));
    c.close();
    expect(cluster([2, 2], od).choose(undefined)).toBeUndefined(); // → 503 UH
  });

  it('a retry avoids the hosts already tried (previous_hosts, bounded attempts)', () => {
    const c = cluster([1, 1, 1]);
    const tried = new Set(['10.0.0.1:80', '10.0.0.2:80']);
    expect(picks(c, 20, tried, 5)).toEqual(new Set(['10.0.0.3:80']));
  });

  it('concurrent requests over max_requests and retries over max_retries overflow', () => {
    const c = cluster([1], {
      circuitBreakers: { thresholds: [{ maxRequests: { value: 1 }, maxRetries: { value: 1 } }] },
    });
    const a = c.admit();
    expect(() => c.admit()).toThrow(/max_requests/);
    a.release();
    expect(() => c.admit().release()).not.toThrow();
    const r = c.admitRetry()!;
    expect(c.admitRetry()).toBeUndefined();
    r.release();
    expect(c.admitRetry()).toBeDefined();
  });
});
