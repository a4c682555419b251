// Fuzz target: the Kubernetes YAML a files-mode controller and `ambientctl analyze` read. Any
// text loads into objects and per-object errors — never an exception — and every error names
// the file.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadYaml } from './load.js';

const kind = fc.constantFrom(
  'Pod',
  'Service',
  'Namespace',
  'AuthorizationPolicy',
  'PeerAuthentication',
  'VirtualService',
  'DestinationRule',
  'Gateway',
  'HTTPRoute',
  'RequestAuthentication',
  'List',
  'Unknown',
);
const apiVersion = fc.constantFrom(
  'v1',
  'security.istio.io/v1',
  'networking.istio.io/v1',
  'gateway.networking.k8s.io/v1',
  'x/y',
);
const object = fc.record(
  {
    apiVersion,
    kind,
    metadata: fc.oneof(
      fc.record(
        { name: fc.string({ maxLength: 8 }), namespace: fc.string({ maxLength: 8 }) },
        { requiredKeys: [] },
      ),
      fc.jsonValue({ maxDepth: 1 }),
    ),
    spec: fc.jsonValue({ maxDepth: 4 }),
    status: fc.jsonValue({ maxDepth: 2 }),
    items: fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 2 }),
  },
  { requiredKeys: [] },
);

describe('Kubernetes YAML', () => {
  it('an alias without its anchor is a named YAML error (found by the fuzz target: it threw a ReferenceError)', () => {
    const r = loadYaml('*-', 'fuzz.yaml');
    expect(r.objects).toEqual([]);
    expect(r.errors).toEqual([
      { file: 'fuzz.yaml', reason: expect.stringMatching(/^invalid YAML: Unresolved alias/) },
    ]);
  });

  it('fuzz: model loading — any documents load into objects or named errors, never an exception', () => {
    fc.assert(
      fc.property(fc.array(object, { maxLength: 3 }), fc.string({ maxLength: 20 }), (docs, junk) => {
        const text = `${docs.map((d) => stringify(d)).join('---\n')}${junk}`;
        const r = loadYaml(text, 'fuzz.yaml');
        for (const e of r.errors) expect(e.file).toBe('fuzz.yaml');
        expect(r.objects.length + r.errors.length + r.ignored).toBeGreaterThanOrEqual(0);
      }),
    );
  });
});
