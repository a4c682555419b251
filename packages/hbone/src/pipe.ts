// Moves bytes between the two legs of a tunnel with half-close in both directions.
//
// One per user connection, on the hot path: per chunk, one write and its backpressure check —
// what `pipe` does, without `pipe`'s nine listeners per direction (its unpipe/cleanup
// machinery is for pipes that outlive a failure; a tunnel aborts both legs instead). At
// 10,000 open connections those listeners were ≈ 1 KB of heap per connection. Byte counts come
// from the TCP socket's own counters at the end (`bytesRead`/`bytesWritten`).
//
// Ending vs aborting: a FIN on one leg ends the other leg's writable (END_STREAM / FIN) and
// the tunnel is done when both legs have closed. A leg that closes before both of its
// directions finished — a reset, an error, a policy decision — aborts the other one: the
// TCP side with an RST, the HTTP/2 side with RST_STREAM(INTERNAL_ERROR), so the far end sees a
// broken connection, never a clean end of data. (Node's `Http2Stream.close(code)` ends the
// writable first, so the peer receives END_STREAM — a clean FIN — before the RST_STREAM;
// `destroy(err)` sends only RST_STREAM(INTERNAL_ERROR). Measured; see test/hbone.test.ts.)
import http2 from 'node:http2';
import type net from 'node:net';
import type { Duplex } from 'node:stream';

export interface PipeResult {
  /** Bytes from the TCP side into the tunnel. */
  bytesIn: number;
  /** Bytes from the tunnel out to the TCP side. */
  bytesOut: number;
  /** Why the tunnel was aborted, if it did not end cleanly. */
  error?: Error;
}

function isHttp2Stream(d: Duplex): d is http2.Http2Stream {
  return typeof (d as http2.Http2Stream).close === 'function' && 'rstCode' in d;
}

/** Aborts a leg so that its peer sees a failure. */
export function abortLeg(d: Duplex): void {
  if (d.destroyed) return;
  if (isHttp2Stream(d)) d.destroy(new Error('tunnel aborted'));
  else if (typeof (d as net.Socket).resetAndDestroy === 'function') (d as net.Socket).resetAndDestroy();
  else d.destroy();
}

function finishedCleanly(d: Duplex): boolean {
  if (isHttp2Stream(d) && d.rstCode !== undefined && d.rstCode !== http2.constants.NGHTTP2_NO_ERROR)
    return false;
  return d.readableEnded && d.writableFinished;
}

/** Pipes `tcp` (a net.Socket with allowHalfOpen) and `tunnel` (an HTTP/2 stream or any Duplex) both ways. */
export function pipeTunnel(tcp: net.Socket, tunnel: Duplex): Promise<PipeResult> {
  return new Promise((resolve) => {
    let error: Error | undefined;
    let closed = 0;
    const abort = (why: Error) => {
      if (!error) error = why;
      abortLeg(tcp);
      abortLeg(tunnel);
    };
    const onClose = (leg: Duplex, name: string) => () => {
      if (!finishedCleanly(leg)) abort(error ?? new Error(`${name} closed before the tunnel finished`));
      if (++closed === 2)
        resolve({ bytesIn: tcp.bytesRead, bytesOut: tcp.bytesWritten, ...(error ? { error } : {}) });
    };
    tcp.once('close', onClose(tcp, 'client connection'));
    tunnel.once('close', onClose(tunnel, 'tunnel stream'));
    tcp.on('error', (err) => abort(err));
    tunnel.on('error', (err) => abort(err));
    relay(tcp, tunnel);
    relay(tunnel, tcp);
  });
}

/** `from` → `to` with backpressure; `from`'s end ends `to` (half-close). Errors are the caller's. */
function relay(from: Duplex, to: Duplex): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.once('end', () => to.end());
  from.resume(); // a 'data' listener does not restart a stream that was paused explicitly
}
