// Passive outlier detection with Envoy's algorithm — shared spec waypoint.md §2.4:
// per-host consecutive-5xx and consecutive-gateway-failure counters (a non-5xx resets both;
// a 5xx that is not 502/503/504 resets the gateway counter); local-origin failures count as
// 503 (connect failure, reset) or 504 (timeout) when not split; a host becomes a candidate
// when a counter EQUALS its threshold; it is ejected only if (ejected + 1) / total ≤
// max_ejection_percent (the share AFTER ejecting); ejection lasts base × multiplier, capped
// at max(max_ejection_time, base); every interval, ejected hosts whose time is up return
// (counters reset) and other hosts' multipliers decrease by one. Circuit-breaker overflows
// are never reported here (the router does not call `report` for them).

export interface OutlierConfig {
  consecutive5xx: number;
  enforcing5xx: number;
  consecutiveGateway: number;
  enforcingGateway: number;
  splitLocalOrigin: boolean;
  consecutiveLocalOrigin: number;
  intervalMs: number;
  baseEjectionMs: number;
  maxEjectionPercent: number;
  maxEjectionMs: number;
}

/** Envoy's defaults for the fields a cluster leaves unset. */
export const OUTLIER_DEFAULTS: OutlierConfig = {
  consecutive5xx: 5,
  enforcing5xx: 100,
  consecutiveGateway: 5,
  enforcingGateway: 0,
  splitLocalOrigin: false,
  consecutiveLocalOrigin: 5,
  intervalMs: 10_000,
  baseEjectionMs: 30_000,
  maxEjectionPercent: 10,
  maxEjectionMs: 300_000,
};

export type Outcome = { status: number } | { local: 'connect' | 'reset' | 'timeout' };

interface HostState {
  c5xx: number;
  cGateway: number;
  cLocal: number;
  ejectedUntil: number | undefined;
  multiplier: number;
  ejections: number;
}

export interface OutlierEvent {
  host: string;
  kind: 'eject' | 'uneject' | 'skipped';
  reason: string;
}

export class OutlierDetector {
  private readonly hosts = new Map<string, HostState>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    public config: OutlierConfig,
    private readonly opts: {
      now?: () => number;
      random?: () => number;
      onEvent?: (e: OutlierEvent) => void;
    } = {},
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Keeps the host set in step with the cluster's endpoints. */
  setHosts(keys: readonly string[]): void {
    const want = new Set(keys);
    for (const k of this.hosts.keys()) if (!want.has(k)) this.hosts.delete(k);
    for (const k of keys)
      if (!this.hosts.has(k))
        this.hosts.set(k, {
          c5xx: 0,
          cGateway: 0,
          cLocal: 0,
          ejectedUntil: undefined,
          multiplier: 0,
          ejections: 0,
        });
  }

  start(): void {
    this.stop();
    this.timer = setInterval(() => this.tick(), this.config.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  isEjected(host: string): boolean {
    return this.hosts.get(host)?.ejectedUntil !== undefined;
  }

  ejectedCount(): number {
    let n = 0;
    for (const h of this.hosts.values()) if (h.ejectedUntil !== undefined) n++;
    return n;
  }

  report(host: string, outcome: Outcome): void {
    const h = this.hosts.get(host);
    if (!h || h.ejectedUntil !== undefined) return;
    const c = this.config;
    let status: number;
    if ('local' in outcome) {
      if (c.splitLocalOrigin) {
        h.cLocal++;
        if (h.cLocal === c.consecutiveLocalOrigin)
          this.tryEject(host, h, 100, 'consecutive local-origin failures');
        return;
      }
      status = outcome.local === 'timeout' ? 504 : 503;
    } else {
      status = outcome.status;
      if (c.splitLocalOrigin) h.cLocal = 0;
    }
    if (status < 500) {
      h.c5xx = 0;
      h.cGateway = 0;
      return;
    }
    h.c5xx++;
    if (status === 502 || status === 503 || status === 504) h.cGateway++;
    else h.cGateway = 0;
    if (h.cGateway === c.consecutiveGateway && c.enforcingGateway > 0)
      this.tryEject(host, h, c.enforcingGateway, `${c.consecutiveGateway} consecutive gateway errors`);
    else if (h.c5xx === c.consecutive5xx && c.enforcing5xx > 0)
      this.tryEject(host, h, c.enforcing5xx, `${c.consecutive5xx} consecutive 5xx`);
  }

  private tryEject(host: string, h: HostState, enforcing: number, reason: string): void {
    const c = this.config;
    const random = this.opts.random ?? Math.random;
    if (enforcing < 100 && random() * 100 >= enforcing) return;
    const total = this.hosts.size;
    const after = ((this.ejectedCount() + 1) / total) * 100;
    if (after > c.maxEjectionPercent) {
      this.opts.onEvent?.({
        host,
        kind: 'skipped',
        reason: `${reason}, but ejecting would put ${after.toFixed(0)}% of hosts out (max_ejection_percent ${c.maxEjectionPercent})`,
      });
      return;
    }
    const cap = Math.max(c.maxEjectionMs, c.baseEjectionMs);
    // Envoy caps the multiplier so that multiplier × base ≤ max + base.
    if ((h.multiplier + 1) * c.baseEjectionMs <= cap + c.baseEjectionMs) h.multiplier++;
    h.ejectedUntil = this.now() + Math.min(c.baseEjectionMs * h.multiplier, cap);
    h.ejections++;
    h.c5xx = 0;
    h.cGateway = 0;
    h.cLocal = 0;
    this.opts.onEvent?.({ host, kind: 'eject', reason });
  }

  /** One interval: return hosts whose time is up; decay the others' multipliers. */
  tick(): void {
    const now = this.now();
    for (const [host, h] of this.hosts) {
      if (h.ejectedUntil !== undefined) {
        if (now >= h.ejectedUntil) {
          h.ejectedUntil = undefined;
          h.c5xx = 0;
          h.cGateway = 0;
          h.cLocal = 0;
          this.opts.onEvent?.({ host, kind: 'uneject', reason: 'ejection time elapsed' });
        }
      } else if (h.multiplier > 0) h.multiplier--;
    }
  }

  snapshot(): Record<
    string,
    { ejected: boolean; ejections: number; consecutive5xx: number; multiplier: number }
  > {
    const out: Record<
      string,
      { ejected: boolean; ejections: number; consecutive5xx: number; multiplier: number }
    > = {};
    for (const [k, h] of this.hosts)
      out[k] = {
        ejected: h.ejectedUntil !== undefined,
        ejections: h.ejections,
        consecutive5xx: h.c5xx,
        multiplier: h.multiplier,
      };
    return out;
  }
}
