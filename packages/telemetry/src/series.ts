// Counters and histograms for per-request hot paths. prom-client validates and hashes the
// whole label set on every inc/observe — even through a `labels()` child — which was 11 % of
// the waypoint's CPU at full load (25 labels, four metrics per request). Here a caller finds
// its series once by a key it builds anyway, then updates plain numbers. prom-client still
// owns the registry and the exposition format: these classes implement the part of its
// metric interface that `Registry` reads (name, help, type, aggregator, get, reset), and their
// output is what prom-client's Counter and Histogram print for the same data.
import type { Registry } from 'prom-client';

type Labels = Record<string, string>;
/** One sample as prom-client's Registry reads it (`sharedLabels` print after `labels`). */
interface Value {
  labels: Record<string, string | number>;
  sharedLabels?: Labels;
  value: number;
  metricName?: string;
}
interface MetricData {
  name: string;
  help: string;
  type: string;
  values: Value[];
  aggregator: string;
}

export interface CounterSeries {
  inc(n?: number): void;
}
export interface HistogramSeries {
  observe(v: number): void;
}

abstract class SeriesMetric<S> {
  readonly aggregator = 'sum';
  protected readonly all = new Map<string, S & { labels: Labels }>();

  constructor(
    readonly name: string,
    readonly help: string,
    registry: Registry,
  ) {
    registry.registerMetric(this as never);
  }

  /** The series of `key`; `labels()` is called only when the series is new. */
  series(key: string, labels: () => Labels): S {
    let s = this.all.get(key);
    if (!s) {
      s = { ...this.create(), labels: labels() };
      this.all.set(key, s);
    }
    return s;
  }

  /** The samples with their labels merged (what `Registry.getMetricsAsJSON()` reads). */
  async get(): Promise<MetricData> {
    const d = await this.getForPromString();
    return {
      ...d,
      values: d.values.map(({ sharedLabels, ...v }) => ({ ...v, labels: { ...v.labels, ...sharedLabels } })),
    };
  }

  /** The samples as `Registry.metrics()` prints them. */
  getForPromString(): Promise<MetricData> {
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values: this.values(),
      aggregator: this.aggregator,
    });
  }

  reset(): void {
    this.all.clear();
  }

  abstract readonly type: string;
  protected abstract create(): S;
  protected abstract values(): Value[];
}

export class SeriesCounter extends SeriesMetric<CounterSeries & { value: number }> {
  readonly type = 'counter';

  protected create() {
    return {
      value: 0,
      inc(this: { value: number }, n = 1) {
        this.value += n;
      },
    };
  }

  protected values(): Value[] {
    return [...this.all.values()].map((s) => ({ labels: s.labels, value: s.value }));
  }
}

export class SeriesHistogram extends SeriesMetric<HistogramSeries & { counts: Float64Array; sum: number }> {
  readonly type = 'histogram';

  constructor(
    name: string,
    help: string,
    registry: Registry,
    private readonly bounds: readonly number[],
  ) {
    super(name, help, registry);
  }

  protected create() {
    const bounds = this.bounds;
    return {
      counts: new Float64Array(bounds.length + 1), // the last one: above every bound (+Inf)
      sum: 0,
      observe(this: { counts: Float64Array; sum: number }, v: number) {
        let i = 0;
        while (i < bounds.length && v > bounds[i]!) i++;
        this.counts[i]!++;
        this.sum += v;
      },
    };
  }

  protected values(): Value[] {
    const out: Value[] = [];
    for (const s of this.all.values()) {
      let acc = 0;
      const sharedLabels = s.labels;
      const bucket = `${this.name}_bucket`;
      this.bounds.forEach((le, i) => {
        acc += s.counts[i]!;
        out.push({ labels: { le }, sharedLabels, value: acc, metricName: bucket });
      });
      acc += s.counts[this.bounds.length]!;
      out.push({ labels: { le: '+Inf' }, sharedLabels, value: acc, metricName: bucket });
      out.push({ labels: {}, sharedLabels, value: s.sum, metricName: `${this.name}_sum` });
      out.push({ labels: {}, sharedLabels, value: acc, metricName: `${this.name}_count` });
    }
    return out;
  }
}
