// ztunnel's configuration — the ONLY reader of process.env in this app. Istio's variable
// names where they exist (shared spec ztunnel.md §2.3, §3.1, §4, §8, §10); ours are prefixed
// AMBIENT_. Every variable is checked and every bad one reported in one pass, naming the
// variable and the value; then start-up fails once.
import { readFileSync } from 'node:fs';
import { ConfigError, EnvReader, type HostPort } from '@ambient/telemetry';

export type ProxyMode = 'shared' | 'dedicated';
export type CaptureMode = 'none' | 'inpod';

export interface Config {
  proxyMode: ProxyMode;
  /** dedicated mode: the one workload (namespace/name/serviceAccount). */
  workloadInfo?: { namespace: string; name: string; serviceAccount: string };
  nodeName: string;
  network: string;
  trustDomain: string;
  clusterId: string;
  clusterDomain: string;
  /** xDS server; undefined when disabled (XDS_ADDRESS=""). `http://` = plaintext. */
  xdsAddress?: string;
  xdsRootCert?: string;
  caAddress?: string;
  caRootCert?: string;
  /** Self-signed certificates in-process (no CA server). */
  fakeCa: boolean;
  /** FAKE_CA's directory: ztunnels sharing it share one root (development, the lab). */
  fakeCaDir?: string;
  localXds?: { source: string; text: string };
  /** Bearer token (read again on every request when it comes from a file). */
  authToken: () => string | undefined;
  xdsHeaders: Record<string, string>;
  caHeaders: Record<string, string>;
  secretTtlSeconds: number;
  poolMaxStreamsPerConnection: number;
  poolUnusedReleaseTimeoutMs: number;
  http2: { streamWindow: number; connectionWindow: number; frameSize: number };
  /** Graceful drain deadline (spec §8). */
  drainDeadlineMs: number;
  pod: { name: string; namespace: string; serviceAccount: string; instanceIp: string };
  adminAddr: HostPort;
  statsAddr: HostPort;
  readinessAddr: HostPort;
  /** SOCKS5 outbound listener (UNSTABLE_ENABLE_SOCKS5); how apps enter the mesh without capture. */
  socks5Addr?: HostPort;
  capture: CaptureMode;
  /** Where to look for pods' processes (hostPID): finds a pod's netns from its UID. */
  procRoot: string;
  logLevel: string;
  version: string;
}

export { ConfigError, type HostPort };

type Env = Record<string, string | undefined>;

/** Parses `24h`, `30m`, `90s`, `500ms` or plain seconds. */
export function parseDuration(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
}

export function loadConfig(env: Env = process.env, version = '0.1.0'): Config {
  const r = new EnvReader(env);
  const problems = r.problems;
  const bad = r.bad.bind(r);
  const readText = (p: string) => readFileSync(p, 'utf8');
  const str = (name: string, def: string) => env[name] ?? def;
  const bool = (name: string, def: boolean): boolean => {
    const v = env[name];
    if (v === undefined || v === '') return def;
    if (/^(true|1|yes)$/i.test(v)) return true;
    if (/^(false|0|no)$/i.test(v)) return false;
    bad(name, v, 'expected true or false');
    return def;
  };
  const int = r.int.bind(r);
  const duration = (name: string, defMs: number): number => {
    const v = env[name];
    if (v === undefined || v === '') return defMs;
    const ms = parseDuration(v);
    if (ms === undefined || ms <= 0) {
      bad(name, v, 'expected a duration such as 24h, 30m, 90s or a number of seconds');
      return defMs;
    }
    return ms;
  };
  const hostPort = r.hostPort.bind(r);
  const file = (name: string, path: string | undefined) => r.file(name, path, readText);
  const prefixed = (prefix: string): Record<string, string> =>
    Object.fromEntries(
      Object.entries(env)
        .filter(([k, v]) => k.startsWith(prefix) && v !== undefined)
        .map(([k, v]) => [k.slice(prefix.length).toLowerCase().replaceAll('_', '-'), v!]),
    );

  const proxyModeRaw = str('PROXY_MODE', 'shared');
  let proxyMode: ProxyMode = 'shared';
  if (proxyModeRaw === 'shared' || proxyModeRaw === 'dedicated') proxyMode = proxyModeRaw;
  else bad('PROXY_MODE', proxyModeRaw, 'expected shared or dedicated');

  let workloadInfo: Config['workloadInfo'];
  const info = env.PROXY_WORKLOAD_INFO;
  if (info) {
    const parts = info.split('/');
    if (parts.length !== 3 || parts.some((p) => p === ''))
      bad('PROXY_WORKLOAD_INFO', info, 'expected <namespace>/<name>/<service-account>');
    else workloadInfo = { namespace: parts[0]!, name: parts[1]!, serviceAccount: parts[2]! };
  } else if (proxyMode === 'dedicated') {
    problems.push(
      'PROXY_WORKLOAD_INFO is required when PROXY_MODE=dedicated (<namespace>/<name>/<service-account>)',
    );
  }

  const inK8s = env.KUBERNETES_SERVICE_HOST !== undefined;
  const defaultControlPlane = inK8s
    ? 'https://ambient-controller.ambient-system.svc:15012'
    : 'https://localhost:15012';
  let localXds: Config['localXds'];
  if (env.LOCAL_XDS_PATH && env.LOCAL_XDS) {
    problems.push('LOCAL_XDS_PATH and LOCAL_XDS are both set: use one');
  } else if (env.LOCAL_XDS_PATH) {
    const text = file('LOCAL_XDS_PATH', env.LOCAL_XDS_PATH);
    if (text !== undefined) localXds = { source: env.LOCAL_XDS_PATH, text };
  } else if (env.LOCAL_XDS) {
    localXds = { source: 'LOCAL_XDS', text: env.LOCAL_XDS };
  }
  const address = (name: string) => r.controlPlaneAddress(name, defaultControlPlane);
  const xdsAddress = address('XDS_ADDRESS');
  const caAddress = address('CA_ADDRESS');
  const fakeCa = bool('FAKE_CA', false);
  const rootFor = (name: string, addr: string | undefined) => r.rootCert(name, addr, readText);
  const xdsRootCert = rootFor('XDS_ROOT_CA', xdsAddress);
  const caRootCert = fakeCa ? undefined : rootFor('CA_ROOT_CA', caAddress);

  // AUTH_TOKEN: a file path or a literal token; default: the projected token file.
  const authToken = r.authToken(readText);

  const grace = env.TERMINATION_GRACE_PERIOD_SECONDS;
  let drainDeadlineMs = 5000;
  if (env.CONNECTION_TERMINATION_DEADLINE)
    drainDeadlineMs = duration('CONNECTION_TERMINATION_DEADLINE', 5000);
  else if (grace !== undefined && grace !== '') {
    const g = Number(grace);
    if (!Number.isInteger(g) || g < 0)
      bad('TERMINATION_GRACE_PERIOD_SECONDS', grace, 'expected a whole number of seconds');
    else drainDeadlineMs = Math.max(1, g > 10 ? g - 5 : g - 1) * 1000;
  }

  const captureRaw = str('AMBIENT_CAPTURE', 'none');
  let capture: CaptureMode = 'none';
  if (captureRaw === 'none' || captureRaw === 'inpod') capture = captureRaw;
  else bad('AMBIENT_CAPTURE', captureRaw, 'expected none or inpod');

  const socksEnabled = bool('UNSTABLE_ENABLE_SOCKS5', false);
  const logLevel = str('LOG_LEVEL', (env.RUST_LOG ?? 'info').split(',')[0]!.split('=').pop()!);
  if (!['trace', 'debug', 'info', 'warn', 'error'].includes(logLevel))
    bad('LOG_LEVEL', logLevel, 'expected trace, debug, info, warn or error');

  const config: Config = {
    proxyMode,
    ...(workloadInfo ? { workloadInfo } : {}),
    nodeName: str('NODE_NAME', ''),
    network: str('NETWORK', ''),
    trustDomain: str('TRUST_DOMAIN', 'cluster.local'),
    clusterId: env.ISTIO_META_CLUSTER_ID ?? env.CLUSTER_ID ?? 'Kubernetes',
    clusterDomain: str('CLUSTER_DOMAIN', 'cluster.local'),
    ...(xdsAddress ? { xdsAddress } : {}),
    ...(xdsRootCert ? { xdsRootCert } : {}),
    ...(caAddress && !fakeCa ? { caAddress } : {}),
    ...(caRootCert ? { caRootCert } : {}),
    fakeCa,
    ...(env.AMBIENT_FAKE_CA_DIR ? { fakeCaDir: env.AMBIENT_FAKE_CA_DIR } : {}),
    ...(localXds ? { localXds } : {}),
    authToken,
    xdsHeaders: prefixed('XDS_HEADER_'),
    caHeaders: prefixed('CA_HEADER_'),
    secretTtlSeconds: Math.round(duration('SECRET_TTL', 24 * 3600 * 1000) / 1000),
    poolMaxStreamsPerConnection: int('POOL_MAX_STREAMS_PER_CONNECTION', 100, 1, 10_000),
    poolUnusedReleaseTimeoutMs: duration('POOL_UNUSED_RELEASE_TIMEOUT', 5 * 60_000),
    http2: {
      streamWindow: int('HTTP2_STREAM_WINDOW_SIZE', 4 * 1024 * 1024, 65_535, 2 ** 31 - 1),
      connectionWindow: int('HTTP2_CONNECTION_WINDOW_SIZE', 16 * 1024 * 1024, 65_535, 2 ** 31 - 1),
      frameSize: int('HTTP2_FRAME_SIZE', 1024 * 1024, 16_384, 16_777_215),
    },
    drainDeadlineMs,
    pod: {
      name: str('POD_NAME', 'ztunnel'),
      namespace: str('POD_NAMESPACE', 'ambient-system'),
      serviceAccount: str('SERVICE_ACCOUNT', 'ztunnel'),
      instanceIp: str('INSTANCE_IP', ''),
    },
    adminAddr: hostPort('AMBIENT_ADMIN_ADDR', '127.0.0.1:15000'),
    statsAddr: hostPort('AMBIENT_STATS_ADDR', '[::]:15020'),
    readinessAddr: hostPort('AMBIENT_READINESS_ADDR', '[::]:15021'),
    ...(socksEnabled ? { socks5Addr: hostPort('AMBIENT_SOCKS5_ADDR', '127.0.0.1:15080') } : {}),
    capture,
    procRoot: str('AMBIENT_PROC_ROOT', '/proc'),
    logLevel,
    version,
  };
  if (!config.xdsAddress && !config.localXds)
    problems.push('no configuration source: set XDS_ADDRESS, or LOCAL_XDS_PATH / LOCAL_XDS');
  if (!config.caAddress && !config.fakeCa)
    problems.push('no certificate source: set CA_ADDRESS, or FAKE_CA=true for self-signed certificates');
  if (proxyMode === 'shared' && !config.nodeName)
    problems.push('NODE_NAME is required in shared mode (the node whose workloads this ztunnel serves)');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** The effective configuration for /config_dump (no secrets). */
export function publicConfig(c: Config): Record<string, unknown> {
  const { authToken: _t, xdsRootCert, caRootCert, localXds, xdsHeaders, caHeaders, ...rest } = c;
  return {
    ...rest,
    xdsRootCert: xdsRootCert ? '(set)' : undefined,
    caRootCert: caRootCert ? '(set)' : undefined,
    localXds: localXds?.source,
    xdsHeaders: Object.keys(xdsHeaders),
    caHeaders: Object.keys(caHeaders),
  };
}
