// The waypoint's configuration — the only reader of process.env in this app. Istio's variable
// names where the waypoint chart sets them (POD_NAME, POD_NAMESPACE, SERVICE_ACCOUNT,
// INSTANCE_IP, ISTIO_META_CLUSTER_ID, TRUST_DOMAIN, XDS_ADDRESS / CA_ADDRESS as ztunnel
// names them); ours are prefixed AMBIENT_. Every bad variable is reported in one pass.
import { readFileSync } from 'node:fs';
import { ConfigError, type HostPort, parseHostPort } from '@ambient/telemetry';

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
  drainDeadlineMs: number;
  logLevel: string;
  accessLog: boolean;
}

export { ConfigError };

type Env = Record<string, string | undefined>;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];
  const bad = (name: string, value: string, why: string) =>
    problems.push(`${name}=${JSON.stringify(value)}: ${why}`);
  const need = (name: string): string => {
    const v = env[name];
    if (!v) problems.push(`${name} is required`);
    return v ?? '';
  };
  const int = (name: string, def: number, min: number, max: number): number => {
    const v = env[name];
    if (v === undefined || v === '') return def;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) {
      bad(name, v, `expected an integer from ${min} to ${max}`);
      return def;
    }
    return n;
  };
  const hostPort = (name: string, def: string): HostPort => {
    const v = env[name] ?? def;
    const parsed = parseHostPort(v);
    if (!parsed) bad(name, v, 'expected host:port (e.g. 0.0.0.0:15008)');
    return parsed ?? parseHostPort(def)!;
  };
  const address = (name: string): string => {
    const a = env[name] ?? 'https://ambient-controller.ambient-system.svc:15012';
    const withScheme = /^[a-z]+:\/\//.test(a) ? a : `https://${a}`;
    if (!/^https?:\/\/[^/]+:\d+\/?$/.test(withScheme)) bad(name, a, 'expected [http[s]://]host:port');
    return withScheme.replace(/\/$/, '');
  };
  const root = (name: string, addr: string): string | undefined => {
    if (!addr.startsWith('https://')) return undefined;
    const v = env[name] ?? './var/run/secrets/istio/root-cert.pem';
    if (v.includes('-----BEGIN CERTIFICATE-----')) return v;
    try {
      return readFileSync(v, 'utf8');
    } catch (err) {
      bad(name, v, `cannot read: ${(err as Error).message}`);
      return undefined;
    }
  };
  const tokenSource = env.AUTH_TOKEN ?? './var/run/secrets/tokens/istio-token';
  const authToken = () => {
    try {
      return readFileSync(tokenSource, 'utf8').trim();
    } catch {
      return env.AUTH_TOKEN && !env.AUTH_TOKEN.includes('/') ? env.AUTH_TOKEN : undefined;
    }
  };
  const logLevel = env.LOG_LEVEL ?? 'info';
  if (!['trace', 'debug', 'info', 'warn', 'error'].includes(logLevel))
    bad('LOG_LEVEL', logLevel, 'expected trace, debug, info, warn or error');
  const xdsAddress = address('XDS_ADDRESS');
  const caAddress = address('CA_ADDRESS');
  const xdsRootCert = root('XDS_ROOT_CA', xdsAddress);
  const caRootCert = root('CA_ROOT_CA', caAddress);
  const pod = {
    name: need('POD_NAME'),
    namespace: need('POD_NAMESPACE'),
    serviceAccount: env.SERVICE_ACCOUNT ?? 'waypoint',
    instanceIp: env.INSTANCE_IP ?? '',
  };
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
    secretTtlSeconds: int('SECRET_TTL_SECONDS', 86_400, 60, 31_536_000),
    hboneAddr: hostPort('AMBIENT_HBONE_ADDR', `${pod.instanceIp || '0.0.0.0'}:15008`),
    adminAddr: hostPort('AMBIENT_ADMIN_ADDR', '127.0.0.1:15000'),
    statsAddr: hostPort('AMBIENT_STATS_ADDR', '0.0.0.0:15020'),
    readinessAddr: hostPort('AMBIENT_READINESS_ADDR', '0.0.0.0:15021'),
    maxRequestBytes: int('AMBIENT_MAX_REQUEST_BYTES', 4 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    drainDeadlineMs: int('TERMINATION_GRACE_PERIOD_SECONDS', 5, 0, 3600) * 1000,
    logLevel,
    accessLog: (env.AMBIENT_ACCESS_LOG ?? 'true') !== 'false',
  };
  if (problems.length) throw new ConfigError(problems);
  return config;
}
