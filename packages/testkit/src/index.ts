export { type Gate, netnsGate } from './e2e-gate.js';
export { grpcCalls, startGrpcEcho } from './grpc-echo.js';
export {
  ECHO_DELAY_HEADER,
  ECHO_STATUS_HEADER,
  type EchoAnswer,
  type HttpEchoOptions,
  plainIp,
  type RunningServer,
  startHttpEcho,
} from './http-echo.js';
export { httpLoad, type LoadOptions, type LoadSummary } from './http-load.js';
export { Lab, labSupported, listNetns } from './lab/lab.js';
export { type PodManifestOptions, podManifest } from './lab/manifests.js';
export {
  allProxiesAcked,
  applyLabConfig,
  CONTROLLER_DEBUG,
  controllerState,
  deployedNodeOptions,
  type LabControllerOptions,
  type LabWaypointOptions,
  type LabZtunnelOptions,
  labGetJson,
  startLabController,
  startLabWaypoint,
  startLabZtunnel,
} from './lab/mesh.js';
export {
  belongsToPrefix,
  type ClusterPlan,
  type ClusterSpec,
  CONTROL_PLANE_IP,
  ipInCidr,
  LabPlanError,
  type NodePlan,
  type NodeSpec,
  type PodPlan,
  type PodSpec,
  planCluster,
  planNamespaces,
} from './lab/plan.js';
export { CommandError, type RunOptions, type RunResult, run } from './lab/run.js';
export { mintTokenFile, ztunnelSubject } from './lab/tokens.js';
export { testkitCli } from './paths.js';
export { exchange, type SocksConnectOptions, socksConnect } from './socks5-client.js';
export { Child, type Readiness, type StartOptions, Supervisor, sleep } from './supervisor.js';
export { type SinkReport, startTcpEcho, startTcpSink, tcpExchange } from './tcp-servers.js';
