// The hot-path series (series.ts) must print exactly what prom-client's own Counter and
// Histogram print for the same observations: Prometheus scrapes both the same way.
import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ENVOY_BUCKETS, HTTP_LABELS, HttpMetrics, SeriesCounter, SeriesHistogram } from '../src/index.js';

const observations: [Record<string, string>, number][] = [
  [{ code: '200', peer: 'a' }, 0.3],
  [{ code: '200', peer: 'a' }, 7],
  [{ code: '503', peer: 'b' }, 5], // on a bound: counted in le="5"
  [{ code: '200', peer: 'a' }, 4_000_000], // above every bound: only +Inf
  [{ code: '200', peer: 'b"\\\n' }, 12.5], // a value that must be escaped
];

describe('series metrics', () => {
  it('print what prom-client prints for the same counter and histogram data', async () => {
    const theirs = new Registry();
    const c = new Counter({ name: 'x_total', help: 'h', labelNames: ['code', 'peer'], registers: [theirs] });
    const h = new Histogram({
      name: 'x_ms',
      help: 'h',
      labelNames: ['code', 'peer'],
      buckets: ENVOY_BUCKETS,
      registers: [theirs],
    });
    const ours = new Registry();
    const sc = new SeriesCounter('x_total', 'h', ours);
    const sh = new SeriesHistogram('x_ms', 'h', ours, ENVOY_BUCKETS);
    for (const [labels, v] of observations) {
      c.inc(labels);
      h.observe(labels, v);
      const key = JSON.stringify(labels);
      sc.series(key, () => labels).inc();
      sh.series(key, () => labels).observe(v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
    // JSON too, but for prom-client's `exemplar: null` on each bucket (exemplars are off).
    const noExemplar = (ms: { values: object[] }[]) =>
      ms.map((m) => ({ ...m, values: m.values.map(({ exemplar: _, ...v }: { exemplar?: unknown }) => v) }));
    expect(await ours.getMetricsAsJSON()).toEqual(noExemplar(await theirs.getMetricsAsJSON()));
  });

  it('HttpMetrics keeps one series per label set and fills missing labels with unknown', async () => {
    const reg = new Registry();
    const m = new HttpMetrics(reg);
    m.record({ reporter: 'waypoint', response_code: '200' }, 3, 100, 1024);
    m.record({ reporter: 'waypoint', response_code: '200' }, 30, 100, 1024);
    m.record({ reporter: 'waypoint', response_code: '503', response_flags: 'UO' }, 1, 100, 0);
    const text = await reg.metrics();
    const requests = text.split('\n').filter((l) => l.startsWith('istio_requests_total{'));
    expect(requests).toHaveLength(2);
    const ok = requests.find((l) => l.includes('response_code="200"'))!;
    expect(ok).toMatch(/ 2$/);
    // Every Istio label, in Istio's order; absent ones are "unknown", grpc_response_status empty.
    expect([...ok.matchAll(/(\w+)="/g)].map((x) => x[1])).toEqual([...HTTP_LABELS]);
    expect(ok).toContain('source_workload="unknown"');
    expect(ok).toContain('grpc_response_status=""');
    expect(text).toMatch(
      /istio_request_duration_milliseconds_bucket\{le="5",[^}]*response_code="200"[^}]*\} 1/,
    );
    expect(text).toMatch(/istio_request_duration_milliseconds_count\{[^}]*response_code="200"[^}]*\} 2/);
    expect(text).toMatch(/istio_response_bytes_sum\{[^}]*response_code="200"[^}]*\} 2048/);
  });
});
