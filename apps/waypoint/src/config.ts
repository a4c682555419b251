// The waypoint's configuration — the only reader of process.env in this app. Istio's variable
// names where the waypoint chart sets them (POD_NAME, POD_NAMESPACE, SERVICE_ACCOUNT,
// INSTANCE_IP, ISTIO_META_CLUSTER_ID, TRUST_DOMAIN, XDS_ADDRESS / CA_ADDRESS as ztunnel
// names them); ours are prefixed AMBIENT_. Every bad variable is reported in one pass.
import { readFileSync } from 'node:fs';
import { PATH_NORMALIZATIONS, type PathNormalization } from '@ambient/policy';
import { ConfigError, EnvReader, type HostPort } from '@ambient/telemetry';
import { DEFAULT_MAX_BUFFERED_BYTES } from './router.js';

export interface Config {
  pod: { name: string; namespace: string; serviceAccount: string; instanceIp: string };
  /** The Gateway this waypoint is (`gateway.networking.k8s.io/gateway-name`). */
  gatewayName: string;
  trustDomain: string;
  clusterId: string;
  network: string;
  xdsAddress: string;
  xdsRootCert?: string;
  caAddress: string;
  caRootCert?: string;
  authToken: () => string | undefined;
  secretTtlSeconds: number;
  hboneAddr: HostPort;
  adminAddr: HostPort;
  statsAddr: HostPort;
  readinessAddr: HostPort;
  /** Largest request body buffered for retries and mirrors; larger bodies get 413. */
  maxRequestBytes: number;
  /** All buffered request bodies together (AMBIENT_MAX_BUFFERED_BYTES); past it → 503. */
  maxBufferedBytes: number;
  drainDeadlineMs: number;
  /** meshConfig pathNormalization.normalization (AMBIENT_PATH_NORMALIZATION; default BASE). */
  pathNormalization: PathNormalization;
  /** ProxyConfig gatewayTopology.numTrustedProxies (AMBIENT_NUM_TRUSTED_PROXIES; default 0). */
  trustedHops: number;
  /** Fetch a RequestAuthentication's jwksUri from the waypoint itself (off: the controller inlines keys). */
  remoteJwks: boolean;
  logLevel: string;
  accessLog: boolean;
}

export { ConfigError };

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const r = new EnvReader(env);
  const readText = (p: string) => readFileSync(p, 'utf8');
  const need = (name: string): string => {
    const v = env[name];
    if (!v) r.problems.push(`${name} is required`);
    return v ?? '';
  };
  const address = (name: string) =>
    r.controlPlaneAddress(name, 'https://ambient-controller.ambient-system.svc:15012') ?? 'https://invalid:1';
  const authToken = r.authToken(readText);
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error'].includes(logLevel))
    r.bad('LOG_LEVEL', logLevel, 'expected trace, debug, info, warn or error');
  const xdsAddress = address('XDS_ADDRESS');
  const caAddress = address('CA_ADDRESS');
  const xdsRootCert = r.rootCert('XDS_ROOT_CA', xdsAddress, readText);
  const caRootCert = r.rootCert('CA_ROOT_CA', caAddress, readText);
  const pod = {
    name: need('POD_NAME'),
    namespace: need('POD_NAMESPACE'),
    serviceAccount: env.SERVICE_ACCOUNT ?? 'waypoint',
    instanceIp: env.INSTANCE_IP ?? '',
  };
  const pathNormalization = (env.AMBIENT_PATH_NORMALIZATION ?? 'BASE') as PathNormalization;
  if (!PATH_NORMALIZATIONS.includes(pathNormalization))
    r.bad('AMBIENT_PATH_NORMALIZATION', pathNormalization, `expected ${PATH_NORMALIZATIONS.join(', ')}`);
  const remoteJwks = env.AMBIENT_REMOTE_JWKS ?? 'false';
  if (remoteJwks !== 'true' && remoteJwks !== 'false')
    r.bad('AMBIENT_REMOTE_JWKS', remoteJwks, 'expected true or false');
  const config: Config = {
    pod,
    gatewayName: env.GATEWAY_NAME ?? 'waypoint',
    trustDomain: env.TRUST_DOMAIN ?? 'cluster.local',
    clusterId: env.ISTIO_META_CLUSTER_ID ?? env.CLUSTER_ID ?? 'Kubernetes',
    network: env.NETWORK ?? '',
    xdsAddress,
    ...(xdsRootCert ? { xdsRootCert } : {}),
    caAddress,
    ...(caRootCert ? { caRootCert } : {}),
    authToken,
    secretTtlSeconds: r.int('SECRET_TTL_SECONDS', 86_400, 60, 31_536_000),
    hboneAddr: r.hostPort('AMBIENT_HBONE_ADDR', `${pod.instanceIp || '0.0.0.0'}:15008`),
    adminAddr: r.hostPort('AMBIENT_ADMIN_ADDR', '127.0.0.1:15000'),
    statsAddr: r.hostPort('AMBIENT_STATS_ADDR', '0.0.0.0:15020'),
    readinessAddr: r.hostPort('AMBIENT_READINESS_ADDR', '0.0.0.0:15021'),
    maxRequestBytes: r.int('AMBIENT_MAX_REQUEST_BYTES', 4 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    maxBufferedBytes: r.int(
      'AMBIENT_MAX_BUFFERED_BYTES',
      DEFAULT_MAX_BUFFERED_BYTES,
      1024 * 1024,
      16 * 1024 * 1024 * 1024,
    ),
    drainDeadlineMs: r.int('TERMINATION_GRACE_PERIOD_SECONDS', 5, 0, 3600) * 1000,
    pathNormalization,
    trustedHops: r.int('AMBIENT_NUM_TRUSTED_PROXIES', 0, 0, 64),
    remoteJwks: remoteJwks === 'true',
    logLevel,
    accessLog: (env.AMBIENT_ACCESS_LOG ?? 'true') !== 'false',
  };
  r.done();
  return config;
}
