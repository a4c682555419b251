// The `forwarded` header (RFC 7239 §4) of a CONNECT, parsed in one pass: ztunnel writes
// `for="<ip:port>"` (and `;host=<service>`), a waypoint reads them — shared spec ztunnel.md
// §1.3. The peer writes these bytes, so the parser is linear, refuses anything over
// MAX_FORWARDED_BYTES and anything malformed (undefined), and never backtracks.

/** ztunnel writes < 100 bytes; Envoy caps a whole header map at 60 KiB — we need far less. */
export const MAX_FORWARDED_BYTES = 4096;
/** At most this many elements (`,`-separated hops) are read. */
const MAX_ELEMENTS = 16;

export type ForwardedElement = Record<string, string>;

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

/** The elements of a `forwarded` header, parameter names lower-cased; undefined when malformed. */
export function parseForwarded(header: string | undefined): ForwardedElement[] | undefined {
  if (header === undefined) return [];
  if (header.length > MAX_FORWARDED_BYTES) return undefined;
  const elements: ForwardedElement[] = [];
  let current: ForwardedElement = {};
  let i = 0;
  const n = header.length;
  const skipWs = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  const token = (): string | undefined => {
    const start = i;
    while (i < n && TCHAR.test(header[i]!)) i++;
    return i > start ? header.slice(start, i) : undefined;
  };
  for (;;) {
    skipWs();
    const name = token();
    if (name === undefined || header[i] !== '=') return undefined;
    i++;
    let value: string | undefined;
    if (header[i] === '"') {
      i++;
      let v = '';
      for (;;) {
        if (i >= n) return undefined;
        const c = header[i]!;
        if (c === '"') break;
        if (c === '\\') {
          i++;
          if (i >= n) return undefined;
        }
        v += header[i];
        i++;
      }
      i++;
      value = v;
    } else value = token();
    if (value === undefined) return undefined;
    current[name.toLowerCase()] = value;
    skipWs();
    if (i >= n) break;
    if (header[i] === ';') {
      i++;
      continue;
    }
    if (header[i] === ',') {
      i++;
      elements.push(current);
      if (elements.length >= MAX_ELEMENTS) return undefined;
      current = {};
      continue;
    }
    return undefined;
  }
  elements.push(current);
  return elements;
}

/** `for=` of the first element, as an IP (port and IPv6 brackets removed). */
export function forwardedFor(header: string | undefined): string | undefined {
  const v = parseForwarded(header)?.[0]?.for;
  if (v === undefined) return undefined;
  if (v.startsWith('[')) {
    const end = v.indexOf(']');
    return end > 1 ? v.slice(1, end) : undefined;
  }
  const colon = v.indexOf(':');
  // One colon: ip:port. More: a bare IPv6 address (not RFC 7239's form, but unambiguous).
  return colon >= 0 && v.indexOf(':', colon + 1) < 0 ? v.slice(0, colon) : v;
}

/** `host=` of the first element. */
export function forwardedHost(header: string | undefined): string | undefined {
  return parseForwarded(header)?.[0]?.host;
}
