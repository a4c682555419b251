// Envoy's outlier detection algorithm (shared spec waypoint.md §2.4), step by step with a
// controlled clock: counters, the equals-threshold trigger, the max-ejection rule measured
// after ejecting, the back-off multiplier and its decay, local-origin mapping.
import { describe, expect, it } from 'vitest';
import { OUTLIER_DEFAULTS, OutlierDetector } from '../src/upstream/outlier.js';

function detector(over: Partial<typeof OUTLIER_DEFAULTS>, hosts = ['a', 'b', 'c']) {
  let now = 0;
  const d = new OutlierDetector({ ...OUTLIER_DEFAULTS, ...over }, { now: () => now });
  d.setHosts(hosts);
  return { d, advance: (ms: number) => (now += ms) };
}

describe('outlier detection', () => {
  it('ejects when consecutive 5xx reach the threshold; a success in between resets the count', () => {
    const { d } = detector({ consecutive5xx: 3, maxEjectionPercent: 50 });
    d.report('a', { status: 500 });
    d.report('a', { status: 500 });
    d.report('a', { status: 200 });
    d.report('a', { status: 500 });
    d.report('a', { status: 500 });
    expect(d.isEjected('a')).toBe(false);
    d.report('a', { status: 503 });
    expect(d.isEjected('a')).toBe(true);
  });

  it('the share after ejecting must stay within max_ejection_percent (10 % of 3 hosts ejects nothing)', () => {
    const { d } = detector({ consecutive5xx: 1 });
    d.report('a', { status: 500 });
    expect(d.isEjected('a')).toBe(false);
    const big = detector({ consecutive5xx: 1, maxEjectionPercent: 34 }).d;
    big.report('a', { status: 500 });
    expect(big.isEjected('a')).toBe(true);
    big.report('b', { status: 500 });
    expect(big.isEjected('b')).toBe(false); // 2/3 = 67 % > 34 %
  });

  it('ejection lasts base × multiplier, checked on interval ticks; the multiplier decays while healthy', () => {
    const { d, advance } = detector({
      consecutive5xx: 1,
      maxEjectionPercent: 100,
      baseEjectionMs: 1000,
      intervalMs: 100,
    });
    d.report('a', { status: 500 });
    advance(999);
    d.tick();
    expect(d.isEjected('a')).toBe(true);
    advance(1);
    d.tick();
    expect(d.isEjected('a')).toBe(false);
    d.report('a', { status: 500 }); // second ejection: 2 × base
    advance(1500);
    d.tick();
    expect(d.isEjected('a')).toBe(true);
    advance(500);
    d.tick();
    expect(d.isEjected('a')).toBe(false);
    expect(d.snapshot().a!.multiplier).toBe(2);
    d.tick();
    d.tick();
    expect(d.snapshot().a!.multiplier).toBe(0);
  });

  it('caps the ejection at max(max_ejection_time, base)', () => {
    const { d, advance } = detector({
      consecutive5xx: 1,
      maxEjectionPercent: 100,
      baseEjectionMs: 1000,
      maxEjectionMs: 2500,
    });
    for (let i = 0; i < 5; i++) {
      d.report('a', { status: 500 });
      advance(10_000);
      d.tick();
    }
    d.report('a', { status: 500 });
    advance(2500);
    d.tick();
    expect(d.isEjected('a')).toBe(false);
  });

  it('gateway errors count only when enforced; local-origin failures count as 503/504', () => {
    const { d } = detector({
      consecutive5xx: 10,
      consecutiveGateway: 2,
      enforcingGateway: 100,
      maxEjectionPercent: 100,
    });
    d.report('a', { local: 'connect' });
    d.report('a', { local: 'timeout' });
    expect(d.isEjected('a')).toBe(true);
    const off = detector({ consecutive5xx: 10, consecutiveGateway: 2, maxEjectionPercent: 100 }).d;
    off.report('a', { status: 502 });
    off.report('a', { status: 502 });
    expect(off.isEjected('a')).toBe(false);
  });
});
