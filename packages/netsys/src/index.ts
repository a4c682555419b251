// @ambient/netsys — native calls (koffi) and pod capture rules.
export { NetsysError } from './native.js';
export { findPodNetns } from './pod-netns.js';
export {
  CONN_MARK,
  dumpPodRules,
  installPodRules,
  PodRulesError,
  PROBE_SNAT_IP,
  podRuleTables,
  ROUTE_TABLE,
  removePodRules,
  ZTUNNEL_MARK,
} from './pod-rules.js';
export {
  connectInNetns,
  connectSocket,
  fdOf,
  inNetns,
  listenSocket,
  netnsId,
  originalDst,
  type SockaddrParts,
  type SocketOptions,
  socketNetnsId,
} from './sockets.js';
