// Fuzz targets for the wire decoders a control plane or a peer feeds (xDS resources, the CA
// RPC): decode(encode(x)) = x for generated messages; any bytes decode or fail with
// ProtoDecodeError — never another exception.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Address,
  Authorization,
  Cluster,
  ClusterLoadAssignment,
  IstioCertificateRequest,
  ProtoDecodeError,
  RouteConfiguration,
  WaypointPolicy,
} from '../src/index.js';

const name = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
const ip4 = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 })
  .map((a) => Uint8Array.from(a));
const workload = fc.record({
  uid: name,
  name,
  namespace: name,
  serviceAccount: name,
  node: name,
  addresses: fc.array(ip4, { maxLength: 3 }),
  tunnelProtocol: fc.constantFrom(0, 1),
  canonicalName: name,
  canonicalRevision: name,
});

describe('wire decoders', () => {
  it('fuzz: xDS Address — decode(encode(w)) = w', () => {
    fc.assert(
      fc.property(workload, (w) => {
        const back = Address.decode(Address.encode({ workload: w }));
        expect(Address.toJson(back)).toEqual(Address.toJson(Address.create({ workload: w })));
      }),
    );
  });

  it('fuzz: xDS and CA messages — any bytes decode or fail with ProtoDecodeError', () => {
    const codecs = [
      Address,
      Authorization,
      RouteConfiguration,
      Cluster,
      ClusterLoadAssignment,
      WaypointPolicy,
      IstioCertificateRequest,
    ];
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 256 }),
        fc.integer({ min: 0, max: codecs.length - 1 }),
        (bytes, i) => {
          try {
            codecs[i]!.decode(bytes);
          } catch (err) {
            expect(err).toBeInstanceOf(ProtoDecodeError);
          }
        },
      ),
    );
  });
});
