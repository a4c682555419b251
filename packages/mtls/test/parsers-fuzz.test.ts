// Fuzz targets for what callers send the CA: CSRs (PEM of any bytes, valid CSRs with bytes
// flipped) and bearer tokens. A CSR parses or fails with MtlsError BAD_CSR; a token reviews as
// not authenticated; neither ever throws anything else.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCsr, generateEcKey, MtlsError, parseCsr, TokenIssuer } from '../src/index.js';

const valid = createCsr('spiffe://cluster.local/ns/shop/sa/web', generateEcKey());
const der = Buffer.from(valid.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
const pem = (b: Uint8Array) =>
  `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(b).toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;

function parses(text: string): void {
  try {
    parseCsr(text);
  } catch (err) {
    expect(err).toBeInstanceOf(MtlsError);
    expect((err as MtlsError).code).toBe('BAD_CSR');
  }
}

describe('CA inputs', () => {
  it('fuzz: CSR parsing — random and bit-flipped CSRs parse or fail with BAD_CSR', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => parses(pem(b))));
    fc.assert(fc.property(fc.string({ maxLength: 200 }), parses));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: der.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, x) => {
        const b = Buffer.from(der);
        b[at] = b[at]! ^ x;
        parses(pem(b));
      }),
    );
  });

  it('fuzz: token review — any string is refused, never an exception', async () => {
    const issuer = TokenIssuer.loadOrCreate(
      path.join(mkdtempSync(path.join(tmpdir(), 'tok-fuzz-')), 'k.pem'),
    );
    const b64 = fc.string({
      unit: fc.constantFrom(...'eyJhbGciOiJFUzI1NiJ9.-_abcXYZ019='.split('')),
      maxLength: 120,
    });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          b64,
          fc.string({ maxLength: 120 }),
          fc.tuple(b64, b64, b64).map((p) => p.join('.')),
        ),
        async (t) => {
          const r = await issuer.review(t);
          expect(r.authenticated).toBe(false);
        },
      ),
    );
  });
});
