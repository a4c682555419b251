// Node 20's HTTP/1 client and server misframe their writes when the socket is an
// Http2Stream (an HBONE tunnel): the first bytes of a request or response arrive as garbage
// (reproduced with a bare CONNECT tunnel: the peer's parser fails with HPE_INVALID_METHOD).
// A plain Duplex in between hands the tunnel only Buffers, one write at a time.
import { Duplex } from 'node:stream';

export function asPlainDuplex(inner: Duplex): Duplex {
  const outer = new Duplex({
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
  sock.setTimeout = (ms: number, cb?: () => void) => {
    const t = inner as Duplex & { setTimeout?: (ms: number, cb?: () => void) => void };
    if (t.setTimeout) t.setTimeout(ms, () => outer.emit('timeout'));
    if (cb) outer.once('timeout', cb);
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
