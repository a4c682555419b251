// Fuzz target: Istio's LOCAL_XDS file is user input. Any text — YAML of any shape, or a valid
// file mutated — loads or is refused with a LocalConfigError naming what is wrong; never a
// TypeError from deep inside.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { LocalConfigError, parseLocalConfig } from './local-config.js';

const example = readFileSync(
  fileURLToPath(new URL('../../examples/localhost.yaml', import.meta.url)),
  'utf8',
);

function loads(text: string): void {
  try {
    parseLocalConfig(text, 'fuzz.yaml');
  } catch (err) {
    expect(err, String((err as Error).stack)).toBeInstanceOf(LocalConfigError);
  }
}

describe('LOCAL_XDS_PATH', () => {
  it('an alias without its anchor is a LocalConfigError (found by the fuzz target: it threw a ReferenceError)', () => {
    expect(() => parseLocalConfig(`${example.slice(0, 1477)}*${example.slice(1477)}`, 'fuzz.yaml')).toThrow(
      LocalConfigError,
    );
    expect(() => parseLocalConfig('workloads: *nope', 'fuzz.yaml')).toThrow(
      /fuzz.yaml: invalid YAML: Unresolved alias/,
    );
  });

  it('fuzz: local config — any YAML value, and mutated valid files, load or fail with LocalConfigError', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 4 }).map((v) => stringify(v)),
        loads,
      ),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: example.length }), fc.string({ maxLength: 6 }), (at, junk) =>
        loads(example.slice(0, at) + junk + example.slice(at)),
      ),
    );
    fc.assert(
      fc.property(
        fc.record({
          workloads: fc.array(
            fc.dictionary(
              fc.constantFrom('uid', 'name', 'workloadIps', 'protocol', 'services', 'node', 'serviceAccount'),
              fc.jsonValue({ maxDepth: 2 }),
            ),
            { maxLength: 3 },
          ),
          services: fc.array(
            fc.dictionary(
              fc.constantFrom('hostname', 'vips', 'ports', 'name', 'namespace'),
              fc.jsonValue({ maxDepth: 2 }),
            ),
            { maxLength: 3 },
          ),
          policies: fc.array(
            fc.dictionary(
              fc.constantFrom('name', 'namespace', 'scope', 'action', 'rules', 'groups'),
              fc.jsonValue({ maxDepth: 3 }),
            ),
            { maxLength: 2 },
          ),
        }),
        (doc) => loads(stringify(doc)),
      ),
    );
  });
});
