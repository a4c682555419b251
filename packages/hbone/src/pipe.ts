// Moves bytes between the two legs of a tunnel with half-close in both directions.
//
// One per user connection, on the hot path: no per-chunk JavaScript beyond what Node's
// streams do themselves. Byte counts come from the TCP socket's own counters at the end
// (`bytesRead`/`bytesWritten`), not from 'data' listeners.

import type net from 'node:net';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';

export interface PipeResult {
  /** Bytes from the TCP side into the tunnel. */
  bytesIn: number;
  /** Bytes from the tunnel out to the TCP side. */
  bytesOut: number;
  /** First error seen, if the tunnel did not end cleanly. */
  error?: Error;
}

/**
 * Pipes `tcp` (a net.Socket with allowHalfOpen) and `tunnel` (an HTTP/2 stream or any
 * Duplex) both ways. A FIN on one side ends the other side's writable (END_STREAM / FIN);
 * the tunnel is done when both directions are done. An error on one side destroys the
 * other — the TCP side with a reset, as a failed connection looks to an application.
 */
export function pipeTunnel(tcp: net.Socket, tunnel: Duplex): Promise<PipeResult> {
  return new Promise((resolve) => {
    let pending = 2;
    let error: Error | undefined;
    const done = (err?: Error | null) => {
      if (err && !error) {
        error = err;
        if (!tcp.destroyed) tcp.resetAndDestroy();
        if (!tunnel.destroyed) tunnel.destroy();
      }
      if (--pending === 0)
        resolve({ bytesIn: tcp.bytesRead, bytesOut: tcp.bytesWritten, ...(error ? { error } : {}) });
    };
    pipeline(tcp, tunnel, (err) => done(err));
    pipeline(tunnel, tcp, (err) => done(err));
  });
}
