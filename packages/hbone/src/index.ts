// @ambient/hbone — HTTP/2 CONNECT over mutual TLS (shared spec ztunnel.md §1).

export {
  type ConnectRequest,
  HbonePool,
  type HbonePoolOptions,
  type PoolKey,
  type PoolStats,
} from './client-pool.js';
export { HboneError, type HboneErrorCode } from './errors.js';
export {
  type ForwardedElement,
  forwardedFor,
  forwardedHost,
  MAX_FORWARDED_BYTES,
  parseForwarded,
} from './forwarded.js';
export {
  type Authority,
  type BaggageInfo,
  formatAuthority,
  formatBaggage,
  formatForwarded,
  newTraceparent,
  parseAuthority,
  parseBaggage,
} from './headers.js';
export { abortLeg, type PipeResult, pipeTunnel } from './pipe.js';
export {
  HBONE_SERVER_LIMITS,
  type HboneDecision,
  type HboneRequest,
  HboneServer,
  type HboneServerLimits,
  type HboneServerOptions,
} from './server.js';
export {
  CONNECTION_WINDOW,
  clientSettings,
  HBONE_PORT,
  type HboneTuning,
  MAX_FRAME_SIZE,
  STREAM_WINDOW,
  serverSettings,
} from './settings.js';
