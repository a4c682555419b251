// Istio's path normalisation, from its published table (istio.io, "Authorization Policy
// Normalization"), and properties: every encoding of a path that the normalisation treats as
// equivalent gets the same authorization decision, and the result is a fixed point.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileL7Policy, evaluateL7, type RequestAttributes } from './l7.js';
import { normalizeRequestPath, type PathNormalization } from './path-normalization.js';

const norm = (p: string, mode: PathNormalization = 'BASE') => {
  const r = normalizeRequestPath(p, mode);
  return r.ok ? r.target : `400 ${r.reason}`;
};

describe('path normalization (Istio meshConfig pathNormalization)', () => {
  it.each([
    // [input, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES, NONE]
    [
      '/some%2fdata/%61%62%63',
      '/some%2Fdata/abc',
      '/some%2Fdata/abc',
      '/some/data/abc',
      '/some%2fdata/%61%62%63',
    ],
    ['/some\\data', '/some/data', '/some/data', '/some/data', '/some\\data'],
    ['/some//data///abc', '/some//data///abc', '/some/data/abc', '/some/data/abc', '/some//data///abc'],
    [
      '/public/./data/abc/../xyz',
      '/public/data/xyz',
      '/public/data/xyz',
      '/public/data/xyz',
      '/public/./data/abc/../xyz',
    ],
    ['/public/%2e%2e/admin', '/admin', '/admin', '/admin', '/public/%2e%2e/admin'],
    ['/public/.%2E/admin', '/admin', '/admin', '/admin', '/public/.%2E/admin'],
    ['/%61dmin', '/admin', '/admin', '/admin', '/%61dmin'],
    ['/admin#x', '/admin', '/admin', '/admin', '/admin'],
    ['/admin?x=%2e%2e#frag', '/admin?x=%2e%2e', '/admin?x=%2e%2e', '/admin?x=%2e%2e', '/admin?x=%2e%2e'],
    ['/a%2d%5f%7e%30', '/a-_~0', '/a-_~0', '/a-_~0', '/a%2d%5f%7e%30'],
    ['/a%252e%252e/b', '/a%252e%252e/b', '/a%252e%252e/b', '/a%252e%252e/b', '/a%252e%252e/b'],
    ['/a%5cb', '/a%5Cb', '/a%5Cb', '/a/b', '/a%5cb'],
    ['/a%zz/%', '/a%zz/%', '/a%zz/%', '/a%zz/%', '/a%zz/%'],
    ['/../../etc', '/etc', '/etc', '/etc', '/../../etc'],
    ['/a/b/..', '/a/', '/a/', '/a/', '/a/b/..'],
    [
      '/a/%00',
      '400 path contains %00',
      '400 path contains %00',
      '400 path contains %00',
      '400 path contains %00',
    ],
    [
      'admin',
      '400 path is not absolute',
      '400 path is not absolute',
      '400 path is not absolute',
      '400 path is not absolute',
    ],
    ['*', '*', '*', '*', '*'],
  ])('%s → BASE %s | MERGE %s | DECODE %s | NONE %s', (input, base, merge, decode, none) => {
    expect(norm(input, 'BASE')).toBe(base);
    expect(norm(input, 'MERGE_SLASHES')).toBe(merge);
    expect(norm(input, 'DECODE_AND_MERGE_SLASHES')).toBe(decode);
    expect(norm(input, 'NONE')).toBe(none);
  });
});

// ---- properties ----

const segment = fc.stringMatching(/^[a-zA-Z0-9_~-]{1,6}$/);
const canonical = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`);

/** An encoding of `path` that BASE must treat as the same path. */
function encodings(path: string): fc.Arbitrary<string> {
  const chars = [...path];
  return fc
    .tuple(
      fc.array(fc.boolean(), { minLength: chars.length, maxLength: chars.length }),
      fc.array(fc.boolean(), { minLength: chars.length, maxLength: chars.length }),
      fc.array(fc.constantFrom('', './', 'junk/../', 'x/.%2e/', '%2E/', 'y\\%2e%2E/'), {
        minLength: chars.length,
        maxLength: chars.length,
      }),
      fc.array(fc.boolean(), { minLength: chars.length, maxLength: chars.length }),
      fc.constantFrom('', '#frag', '#/../admin'),
    )
    .map(([encode, lower, dots, backslash, fragment]) => {
      let out = '';
      for (const [i, c] of chars.entries()) {
        if (c === '/') {
          out += backslash[i] && i > 0 ? '\\' : '/';
          if (i < chars.length - 1) out += dots[i]!;
        } else if (!encode[i]) out += c;
        else {
          const hex = c.charCodeAt(0).toString(16).padStart(2, '0');
          out += `%${lower[i] ? hex.toLowerCase() : hex.toUpperCase()}`;
        }
      }
      return out + fragment;
    });
}

const attrs = (path: string): RequestAttributes => ({
  principal: 'cluster.local/ns/shop/sa/web',
  sourceIp: '10.0.0.1',
  destinationIp: '10.0.0.2',
  destinationPort: 8080,
  host: 'svc',
  method: 'GET',
  path,
  headers: {},
});

describe('path normalization properties', () => {
  it('fuzz: path normalisation — every equivalent encoding of a path gets the same decision', () => {
    fc.assert(
      fc.property(
        canonical.chain((p) => fc.tuple(fc.constant(p), encodings(p))),
        canonical,
        fc.constantFrom<'ALLOW' | 'DENY'>('ALLOW', 'DENY'),
        ([path, encoded], rulePath, action) => {
          const policy = compileL7Policy('p', 'shop', {
            action,
            rules: [{ to: [{ operation: { paths: [rulePath, `${rulePath}/*`] } }] }],
          });
          const a = normalizeRequestPath(path);
          const b = normalizeRequestPath(encoded);
          expect(b).toEqual(a);
          if (!a.ok || !b.ok) return;
          expect(evaluateL7([policy], attrs(b.path)).allowed).toBe(
            evaluateL7([policy], attrs(a.path)).allowed,
          );
        },
      ),
    );
  });

  it('fuzz: path normalisation — any input is a fixed point with no dot segment, fragment or encoded unreserved byte', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom('/', '.', '%', '2', 'e', 'E', 'a', '\\', '#', '?', '0', 'f', '5', 'c'),
          maxLength: 40,
        }),
        fc.constantFrom<PathNormalization>('BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'),
        (tail, mode) => {
          const r = normalizeRequestPath(`/${tail}`, mode);
          if (!r.ok) return;
          expect(normalizeRequestPath(r.target, mode)).toEqual(r);
          expect(r.path).not.toMatch(/(^|\/)\.\.?(\/|$)/);
          expect(r.target).not.toContain('#');
          expect(r.path).not.toMatch(/%(2[dDeE]|[3][0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])/);
        },
      ),
    );
  });

  it('is linear: a 1 MB path of dot segments and escapes normalises in well under a second', () => {
    const evil = `/${'%2e%2e/a/./'.repeat(80_000)}`;
    const t = performance.now();
    expect(normalizeRequestPath(evil).ok).toBe(true);
    expect(performance.now() - t).toBeLessThan(2000);
  });
});
