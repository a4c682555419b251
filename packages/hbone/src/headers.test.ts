// Fuzz targets for the CONNECT headers a peer writes: authority and baggage (forwarded has its
// own file). Invariants: any input is answered without throwing, what we format is parsed back.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAuthority, formatBaggage, parseAuthority, parseBaggage } from './headers.js';

describe('CONNECT headers', () => {
  it('fuzz: authority — any input is refused or a valid host:port; formatted IPs read back', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const a = parseAuthority(s);
        if (a) {
          expect(a.port).toBeGreaterThanOrEqual(1);
          expect(a.port).toBeLessThanOrEqual(65535);
          expect(a.host.length).toBeGreaterThan(0);
        }
      }),
    );
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), fc.integer({ min: 1, max: 65535 }), (ip, port) => {
        expect(parseAuthority(formatAuthority(ip, port))).toEqual({ host: ip, port, isIp: true });
      }),
    );
  });

  it('fuzz: baggage — any input parses; what ztunnel writes reads back', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => void parseBaggage(s)));
    const value = fc.stringMatching(/^[A-Za-z0-9._-]{1,20}$/);
    fc.assert(
      fc.property(
        fc.record(
          {
            cluster: value,
            namespace: value,
            workloadName: value,
            service: value,
            revision: value,
            region: value,
            zone: value,
          },
          { requiredKeys: [] },
        ),
        (b) => {
          const info = b.workloadName ? { ...b, workloadType: 'deployment' } : b;
          expect(parseBaggage(formatBaggage(info))).toEqual(info);
        },
      ),
    );
  });
});
