// Node 20's HTTP/1 client and server misframe their writes when the socket is an
// Http2Stream (an HBONE tunnel): the first bytes of a request or response arrive as garbage
// (reproduced with a bare CONNECT tunnel: the peer's parser fails with HPE_INVALID_METHOD).
// A plain Duplex in between hands the tunnel only Buffers, one write at a time.
import { Duplex } from 'node:stream';

/**
 * `allowHalfOpen: false` for client connections: when the peer ends, the connection closes
 * (as a net.Socket would), so a keep-alive pool never reuses a tunnel the server has left.
 */
export function asPlainDuplex(inner: Duplex, opts: { allowHalfOpen?: boolean } = {}): Duplex {
  const outer = new Duplex({
    allowHalfOpen: opts.allowHalfOpen ?? true,
    read() {
      inner.resume();
    },
    write(chunk, enc, cb) {
      inner.write(chunk, enc, cb);
    },
    final(cb) {
      inner.end();
      cb();
    },
    destroy(err, cb) {
      inner.destroy(err ?? undefined);
      cb(err);
    },
  });
  // What node:http expects of a socket beyond Duplex.
  const sock = outer as Duplex & Record<string, unknown>;
  // One idle timer, re-armed on every call (node:http calls this per request on a kept socket).
  let onTimeout: (() => void) | undefined;
  const timed = inner as Duplex & { setTimeout?: (ms: number) => void };
  if (timed.setTimeout) inner.on('timeout', () => outer.emit('timeout'));
  sock.setTimeout = (ms: number, cb?: () => void) => {
    timed.setTimeout?.(ms);
    if (onTimeout) outer.off('timeout', onTimeout);
    onTimeout = cb;
    if (cb) outer.on('timeout', cb);
    return outer;
  };
  sock.setNoDelay = () => outer;
  sock.setKeepAlive = () => outer;
  sock.ref = () => outer;
  sock.unref = () => outer;
  inner.on('data', (c: Buffer) => {
    if (!outer.push(c)) inner.pause();
  });
  inner.once('end', () => outer.push(null));
  inner.once('error', (e) => outer.destroy(e));
  inner.once('close', () => outer.destroy());
  return outer;
}
