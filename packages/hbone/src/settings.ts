// HTTP/2 settings of HBONE — shared spec ztunnel.md §1.4, and capture-from-node.md §4 for
// why they are set explicitly: with Node's defaults (64 KiB windows) one HBONE stream
// carries about a third less. Both windows must be raised on the receiving side: the
// stream window is a SETTINGS value, the connection window a WINDOW_UPDATE on stream 0
// (`session.setLocalWindowSize`).
import type http2 from 'node:http2';

export const STREAM_WINDOW = 4 * 1024 * 1024;
export const CONNECTION_WINDOW = 16 * 1024 * 1024;
export const MAX_FRAME_SIZE = 1024 * 1024;
/** Many streams × large windows would trip Node's default 10 MB session buffer limit. */
export const MAX_SESSION_MEMORY_MB = 64;
export const HBONE_PORT = 15008;

export interface HboneTuning {
  streamWindow?: number;
  connectionWindow?: number;
  maxFrameSize?: number;
}

export function clientSettings(t: HboneTuning = {}): http2.Settings {
  return {
    enablePush: false,
    initialWindowSize: t.streamWindow ?? STREAM_WINDOW,
    maxFrameSize: t.maxFrameSize ?? MAX_FRAME_SIZE,
    maxHeaderListSize: 16 * 1024,
  };
}

export function serverSettings(t: HboneTuning = {}): http2.Settings {
  return {
    initialWindowSize: t.streamWindow ?? STREAM_WINDOW,
    maxFrameSize: t.maxFrameSize ?? MAX_FRAME_SIZE,
    maxHeaderListSize: 64 * 1024,
    maxConcurrentStreams: 200,
  };
}
