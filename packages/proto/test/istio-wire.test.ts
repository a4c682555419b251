// Wire compatibility with Istio: the bytes in shared/fixtures/istio-wire were produced by
// the official protobuf compiler from Istio's own .proto files. We decode each one with our
// definitions and compare with the official proto3 JSON, then rebuild it from the JSON,
// encode, decode, and compare again.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  Address,
  Authorization,
  type Codec,
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  IstioCertificateRequest,
  IstioCertificateResponse,
  istio,
} from '../src/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
// The shared folder sits beside the project root (CI lays a copy beside the clone).
const fixtures = path.resolve(here, '../../../../shared/fixtures/istio-wire');

const codecs: Record<string, Codec<unknown>> = {
  'workload-address': Address as Codec<unknown>,
  'service-address': Address as Codec<unknown>,
  authorization: Authorization as Codec<unknown>,
  'ca-request': IstioCertificateRequest as Codec<unknown>,
  'ca-response': IstioCertificateResponse as Codec<unknown>,
  'delta-request': DeltaDiscoveryRequest as Codec<unknown>,
  'delta-response': DeltaDiscoveryResponse as Codec<unknown>,
};

describe('Istio wire fixtures', () => {
  it('are present beside the project (../shared/fixtures/istio-wire)', () => {
    expect(existsSync(fixtures), `missing ${fixtures}`).toBe(true);
    const names = readdirSync(fixtures)
      .filter((f) => f.endsWith('.bin'))
      .map((f) => f.replace(/\.bin$/, ''));
    // Every fixture has a codec here: a new fixture without one fails this test.
    expect(names.sort()).toEqual(Object.keys(codecs).sort());
  });

  for (const [name, c] of Object.entries(codecs)) {
    describe(`${name} (${c.typeName})`, () => {
      const bin = () => readFileSync(path.join(fixtures, `${name}.bin`));
      const json = () => JSON.parse(readFileSync(path.join(fixtures, `${name}.json`), 'utf8'));

      it('decodes the official bytes to the official JSON', () => {
        expect(c.toJson(c.decode(bin()))).toEqual(json());
      });

      it('builds from the JSON, encodes, decodes back to the same message', () => {
        const bytes = c.encode(c.fromJson(json()) as never);
        expect(c.toJson(c.decode(bytes))).toEqual(json());
      });

      it('encodes to bytes the official decoder would read the same (same length)', () => {
        // Field order may differ, but proto3 encoding of the same content has the same size.
        expect(c.encode(c.fromJson(json()) as never).length).toBe(bin().length);
      });
    });
  }
});

describe('decoded shapes', () => {
  it('exposes Workload fields with Istio semantics', () => {
    const addr = Address.decode(readFileSync(path.join(fixtures, 'workload-address.bin')));
    expect(addr.type).toBe('workload');
    const w = addr.workload!;
    expect(w.tunnelProtocol).toBe(istio.workload.TunnelProtocol.HBONE);
    expect([...w.addresses[0]!]).toEqual([10, 244, 2, 7]);
    expect(w.capacity?.value).toBe(3);
    expect(w.services['shop/reviews.shop.svc.cluster.local']?.ports[0]?.targetPort).toBe(9080);
    expect(w.waypoint?.destination).toBe('hostname');
  });

  it('decodes a message with unknown fields without error', () => {
    // Field 99 (varint 7) and field 100 (string "x") are unknown to Workload.
    const known = Address.encode({ workload: { uid: 'u1', name: 'n' } });
    const inner = Buffer.concat([
      Buffer.from(known.subarray(2)),
      Buffer.from([0x98, 0x06, 0x07, 0xa2, 0x06, 0x01, 0x78]),
    ]);
    const bytes = Buffer.concat([Buffer.from([0x0a, inner.length]), inner]);
    const decoded = Address.decode(bytes);
    expect(decoded.workload?.uid).toBe('u1');
  });

  it('reports malformed bytes with a typed error', () => {
    expect(() => Address.decode(Buffer.from([0x0a, 0x05, 0x01]))).toThrow(
      /cannot decode istio.workload.Address/,
    );
  });
});
