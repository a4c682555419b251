// The controller's configuration — the only reader of process.env in this app. Every bad
// value is reported in one pass, naming the variable and the value.
import path from 'node:path';
import { TOKEN_KEY_FILE } from '@ambient/mtls';
import { ConfigError, type HostPort, parseHostPort } from '@ambient/telemetry';
import { DEFAULT_TRUSTED_NODE_ACCOUNTS } from './ca-authorizer.js';

export { ConfigError, type HostPort };

export interface ControllerConfig {
  source: 'files' | 'kube';
  /** files mode: the directory of Kubernetes YAML. */
  configDir?: string;
  /** CA directory (self-signed root created there on first start, or Istio's cacerts layout). */
  caDir: string;
  trustDomain: string;
  clusterId: string;
  rootNamespace: string;
  domainSuffix: string;
  xdsPlaintext?: HostPort;
  xdsTls: HostPort;
  debug: HostPort;
  /** DNS names and IPs the 15012 serving certificate covers. */
  servingDns: string[];
  servingIps: string[];
  /** files mode: the key that signs and verifies callers' tokens (`ambientctl token create`). */
  tokenKeyFile: string;
  /** Service accounts (`ns/sa`) that may obtain certificates for pods on their own node (ztunnel). */
  trustedNodeAccounts: string[];
  /** PILOT_JWT_ENABLE_REMOTE_JWKS: `istiod` (default) fetches jwksUri keys here and inlines them; `envoy` leaves them to the waypoint. */
  jwksFetcher: 'istiod' | 'envoy';
  debounceMs: number;
  /** kube mode: publish the root certificate as this ConfigMap (key root-cert.pem) for ztunnels. */
  rootCertConfigMap?: { name: string; namespace: string };
  /** kube mode: create a Deployment + Service for each istio-waypoint Gateway (undefined: off). */
  waypoints?: { image: string; controllerAddress: string };
  logLevel: string;
  version: string;
}

export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  version = '0.1.0',
): ControllerConfig {
  const problems: string[] = [];
  const hostPort = (name: string, def: string | undefined): HostPort | undefined => {
    const v = env[name] ?? def;
    if (v === undefined || v === '') return undefined;
    const parsed = parseHostPort(v);
    if (!parsed) problems.push(`${name}=${JSON.stringify(v)}: expected host:port`);
    return parsed;
  };
  const source = env.AMBIENT_SOURCE ?? 'files';
  if (source !== 'files' && source !== 'kube')
    problems.push(`AMBIENT_SOURCE=${JSON.stringify(source)}: expected files or kube`);
  const configDir = env.AMBIENT_CONFIG_DIR;
  if (source === 'files' && !configDir)
    problems.push(
      'AMBIENT_CONFIG_DIR is required with AMBIENT_SOURCE=files (a directory of Kubernetes YAML)',
    );
  const debounce = Number(env.AMBIENT_DEBOUNCE_MS ?? '100');
  if (!Number.isInteger(debounce) || debounce < 0 || debounce > 60_000)
    problems.push(`AMBIENT_DEBOUNCE_MS=${JSON.stringify(env.AMBIENT_DEBOUNCE_MS)}: expected 0..60000`);
  const xdsPlaintext = hostPort('AMBIENT_XDS_PLAINTEXT_ADDR', '127.0.0.1:15010');
  const xdsTls = hostPort('AMBIENT_XDS_TLS_ADDR', '0.0.0.0:15012');
  const debug = hostPort('AMBIENT_DEBUG_ADDR', '0.0.0.0:15014');
  if (env.AMBIENT_CA_ALLOW)
    problems.push(
      'AMBIENT_CA_ALLOW is no longer read: callers authenticate with tokens the controller signs (ambientctl token create); remove it',
    );
  const trustedNodeAccounts = (env.CA_TRUSTED_NODE_ACCOUNTS ?? DEFAULT_TRUSTED_NODE_ACCOUNTS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const a of trustedNodeAccounts)
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(a))
      problems.push(`CA_TRUSTED_NODE_ACCOUNTS: ${JSON.stringify(a)}: expected <namespace>/<service-account>`);
  const caDir = env.AMBIENT_CA_DIR ?? './var/lib/ambient/ca';
  const remoteJwks = env.PILOT_JWT_ENABLE_REMOTE_JWKS ?? 'istiod';
  const jwksFetcher =
    remoteJwks === 'istiod' || remoteJwks === 'false'
      ? 'istiod'
      : remoteJwks === 'envoy' || remoteJwks === 'true'
        ? 'envoy'
        : undefined;
  if (!jwksFetcher)
    problems.push(
      `PILOT_JWT_ENABLE_REMOTE_JWKS=${JSON.stringify(remoteJwks)}: expected istiod (false) or envoy (true); hybrid is not supported`,
    );
  const config: ControllerConfig = {
    source: source as 'files' | 'kube',
    ...(configDir ? { configDir } : {}),
    caDir,
    trustDomain: env.TRUST_DOMAIN ?? 'cluster.local',
    clusterId: env.CLUSTER_ID ?? 'Kubernetes',
    rootNamespace: env.ROOT_NAMESPACE ?? 'istio-system',
    domainSuffix: env.CLUSTER_DOMAIN ?? 'cluster.local',
    ...(xdsPlaintext ? { xdsPlaintext } : {}),
    xdsTls: xdsTls ?? { host: '0.0.0.0', port: 15012 },
    debug: debug ?? { host: '0.0.0.0', port: 15014 },
    servingDns: (
      env.AMBIENT_SERVING_DNS ??
      'localhost,ambient-controller,ambient-controller.ambient-system,ambient-controller.ambient-system.svc'
    )
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    servingIps: (env.AMBIENT_SERVING_IPS ?? '127.0.0.1')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    tokenKeyFile: env.AMBIENT_TOKEN_KEY ?? path.join(caDir, TOKEN_KEY_FILE),
    trustedNodeAccounts,
    jwksFetcher: jwksFetcher ?? 'istiod',
    debounceMs: debounce,
    ...(env.AMBIENT_ROOT_CERT_CONFIGMAP
      ? {
          rootCertConfigMap: {
            name: env.AMBIENT_ROOT_CERT_CONFIGMAP,
            namespace: env.POD_NAMESPACE ?? 'ambient-system',
          },
        }
      : {}),
    ...(source === 'kube' && env.AMBIENT_DEPLOY_WAYPOINTS !== 'false'
      ? {
          waypoints: {
            image: env.AMBIENT_WAYPOINT_IMAGE ?? 'ambient:dev',
            controllerAddress:
              env.AMBIENT_WAYPOINT_CONTROLLER_ADDRESS ??
              `https://ambient-controller.${env.POD_NAMESPACE ?? 'ambient-system'}.svc:15012`,
          },
        }
      : {}),
    logLevel: env.LOG_LEVEL ?? 'info',
    version,
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
