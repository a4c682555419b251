// Request path normalisation as Istio configures Envoy — meshConfig `pathNormalization`
// (istio.io "Authorization Policy Normalization"; Envoy `normalize_path`, `merge_slashes`,
// `path_with_escaped_slashes_action`, and the fragment stripping that closed CVE-2021-32779).
// Applied once, before routing and authorization, and the result is what goes upstream, so
// the policy and the backend always see the same path.
//
//   every mode  `#fragment` removed; the query (after `?`) is never touched
//   BASE        (the default) `%00` → 400; percent-encoded unreserved characters decoded once
//               (ALPHA, DIGIT, `-`, `.`, `_`, `~`, any hex case; other escapes kept, hex
//               upper-cased); `\` → `/`; `.` and `..` segments resolved (RFC 3986 §5.2.4)
//   MERGE_SLASHES             BASE, then runs of `/` merged
//   DECODE_AND_MERGE_SLASHES  `%2F` → `/` and `%5C` → `\` first, then MERGE_SLASHES
//   NONE        nothing but the fragment (Istio's warning: vulnerable to CVE-2021-31920)
//
// One pass per step over at most the request line: linear in the path's length.

export type PathNormalization = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';
export const PATH_NORMALIZATIONS: readonly PathNormalization[] = [
  'NONE',
  'BASE',
  'MERGE_SLASHES',
  'DECODE_AND_MERGE_SLASHES',
];

export type NormalizedPath =
  | {
      ok: true /** path and query, as sent upstream */;
      target: string /** without the query */;
      path: string;
    }
  | { ok: false; reason: string };

const HEX = '0123456789ABCDEF';

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function unreserved(c: number): boolean {
  return (
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 45 ||
    c === 46 ||
    c === 95 ||
    c === 126
  );
}

/** Percent-decoding of one pass; `slashes` also decodes %2F and %5C. Undefined on %00. */
function decodeEscapes(path: string, slashes: boolean): string | undefined {
  if (!path.includes('%')) return path;
  let out = '';
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) === 37 /* % */ && i + 2 < path.length) {
      const hi = hexValue(path.charCodeAt(i + 1));
      const lo = hexValue(path.charCodeAt(i + 2));
      if (hi >= 0 && lo >= 0) {
        const byte = hi * 16 + lo;
        if (byte === 0) return undefined;
        out +=
          unreserved(byte) || (slashes && (byte === 0x2f || byte === 0x5c))
            ? String.fromCharCode(byte)
            : `%${HEX[hi]}${HEX[lo]}`;
        i += 2;
        continue;
      }
    }
    out += path[i]; // a literal character, or a `%` that starts no escape: kept as it is
  }
  return out;
}

/** RFC 3986 §5.2.4 on an absolute path (starts with `/`). */
function removeDotSegments(path: string): string {
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is '' (the leading slash).
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '.' || s === '..') {
      if (s === '..' && out.length > 0) out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(s);
  }
  return `/${out.join('/')}`;
}

function mergeSlashes(path: string): string {
  let out = '';
  for (let i = 0; i < path.length; i++) {
    if (path[i] === '/' && out.endsWith('/')) continue;
    out += path[i];
  }
  return out;
}

/**
 * Normalises a request target (`/path?query#fragment`) as `mode` says. `*` (OPTIONS) passes
 * unchanged; a target that is not an absolute path is refused, as Envoy refuses it.
 */
export function normalizeRequestPath(target: string, mode: PathNormalization = 'BASE'): NormalizedPath {
  const hash = target.indexOf('#');
  const noFragment = hash < 0 ? target : target.slice(0, hash);
  if (noFragment === '*') return { ok: true, target: '*', path: '*' };
  const q = noFragment.indexOf('?');
  let path = q < 0 ? noFragment : noFragment.slice(0, q);
  const query = q < 0 ? '' : noFragment.slice(q);
  if (!path.startsWith('/')) return { ok: false, reason: 'path is not absolute' };
  if (/%00/.test(path)) return { ok: false, reason: 'path contains %00' };
  if (mode !== 'NONE') {
    const decoded = decodeEscapes(path, mode === 'DECODE_AND_MERGE_SLASHES');
    if (decoded === undefined) return { ok: false, reason: 'path contains %00' };
    path = removeDotSegments(decoded.replaceAll('\\', '/'));
    if (mode !== 'BASE') path = mergeSlashes(path);
  }
  return { ok: true, target: path + query, path };
}
