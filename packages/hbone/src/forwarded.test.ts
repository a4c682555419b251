// The `forwarded` parser sees peer bytes: RFC 7239 cases, ztunnel's own output, and
// properties — any input is answered (elements or undefined) in linear time, never throws,
// and what formatForwarded writes is read back exactly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { forwardedFor, forwardedHost, MAX_FORWARDED_BYTES, parseForwarded } from './forwarded.js';
import { formatForwarded } from './headers.js';

describe('forwarded (RFC 7239)', () => {
  it.each([
    [
      'for="10.0.0.1:4000";host=reviews.bookinfo.svc.cluster.local',
      '10.0.0.1',
      'reviews.bookinfo.svc.cluster.local',
    ],
    ['for="[2001:db8::1]:4000"', '2001:db8::1', undefined],
    ['for=192.0.2.43, for=198.51.100.17', '192.0.2.43', undefined],
    ['For="10.0.0.2";Host="a\\"b"', '10.0.0.2', 'a"b'],
    ['for=unknown', 'unknown', undefined],
  ])('%s → for %s, host %s', (header, forIp, host) => {
    expect(forwardedFor(header)).toBe(forIp);
    expect(forwardedHost(header)).toBe(host);
  });

  it.each(['for', 'for=', 'for="10.0.0.1', 'for=a b', ';for=1', 'for=1;;', 'for=1,,for=2', '=1'])(
    'malformed %j → undefined',
    (header) => {
      expect(parseForwarded(header)).toBeUndefined();
      expect(forwardedFor(header)).toBeUndefined();
    },
  );

  it('reads back what ztunnel writes', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 1, max: 65535 }), fc.domain(), (ip, port, host) => {
        const h = formatForwarded(ip, port, host);
        expect(forwardedFor(h)).toBe(ip);
        expect(forwardedHost(h)).toBe(host);
      }),
    );
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 1, max: 65535 }), (ip, port) => {
        expect(forwardedFor(formatForwarded(ip, port))).toBe(ip);
      }),
    );
  });

  it('fuzz: forwarded — any input: no throw, a bounded answer', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom('f', 'o', 'r', '=', '"', '\\', ';', ',', ' ', '1', '.', ':', '[', ']'),
          maxLength: 200,
        }),
        (header) => {
          const r = parseForwarded(header);
          if (r !== undefined) expect(r.length).toBeLessThanOrEqual(16);
        },
      ),
    );
  });

  it('the header that stalled the waypoint: 60 KB of for=a…]x (the regex it replaced took ≈ 5 s) is refused at once', () => {
    const h = `${'for=a'.repeat(12_000)}]x`;
    const t = performance.now();
    expect(parseForwarded(h)).toBeUndefined();
    expect(forwardedFor(h)).toBeUndefined();
    // Under the cap, the same shape is parsed (and refused as malformed) in linear time.
    const small = `${'for=a'.repeat(800)}]x`;
    for (let i = 0; i < 100; i++) expect(parseForwarded(small)).toBeUndefined();
    expect(performance.now() - t).toBeLessThan(500);
  });

  it('refuses more than MAX_FORWARDED_BYTES, and the worst inputs under it cost microseconds', () => {
    expect(parseForwarded(`for="${'1'.repeat(MAX_FORWARDED_BYTES)}"`)).toBeUndefined();
    // The backtracking regex this replaced took ~0.9 s on 60 KB of such input.
    const evil = `for="${'\\"'.repeat(MAX_FORWARDED_BYTES / 2 - 10)}`;
    const t = performance.now();
    for (let i = 0; i < 100; i++) parseForwarded(evil);
    expect(performance.now() - t).toBeLessThan(500);
  });
});
