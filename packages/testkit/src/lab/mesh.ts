// The mesh on the in-box cluster, started the same way by the demo, the e2e suite and the
// benchmarks: the controller in the underlay's namespace on CONTROL_PLANE_IP (files mode,
// xDS + CA over TLS on 15012, debug on 15014), and one ztunnel per node inside the node's
// namespace with in-pod capture, configured — as a DaemonSet would be — with only the
// controller's address, root certificate and a token (`ambientctl token create`'s, bound to
// the node) — the credential a projected service-account token is in Kubernetes.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { testkitCli } from '../paths.js';
import type { Child, Supervisor } from '../supervisor.js';
import type { Lab } from './lab.js';
import { CONTROL_PLANE_IP } from './plan.js';
import { mintTokenFile, ztunnelSubject } from './tokens.js';

export interface LabControllerOptions {
  /** The controller's built entry point (apps/controller/dist/main.js). */
  entry: string;
  /** The directory of Kubernetes YAML the controller watches. */
  configDir: string;
  /** Where the controller keeps its CA; ztunnels read `root-cert.pem` from here. */
  caDir: string;
  /** Extra environment (AMBIENT_DEBOUNCE_MS, LOG_LEVEL, …). */
  env?: Record<string, string>;
}

/** The controller's debug address, as seen from inside the underlay's namespace. */
export const CONTROLLER_DEBUG = 'http://127.0.0.1:15014';

export function startLabController(sup: Supervisor, lab: Lab, opts: LabControllerOptions): Promise<Child> {
  return sup.start({
    name: 'controller',
    command: process.execPath,
    args: [opts.entry],
    netns: lab.plan.underlayNetns,
    env: {
      AMBIENT_CONFIG_DIR: opts.configDir,
      AMBIENT_CA_DIR: opts.caDir,
      AMBIENT_XDS_PLAINTEXT_ADDR: '',
      AMBIENT_XDS_TLS_ADDR: `${CONTROL_PLANE_IP}:15012`,
      // Debug views answer loopback callers only: the lab reads them from inside the underlay.
      AMBIENT_DEBUG_ADDR: '0.0.0.0:15014',
      AMBIENT_SERVING_IPS: CONTROL_PLANE_IP,
      ...opts.env,
    },
    ready: { http: `${CONTROLLER_DEBUG}/debug/config` },
  });
}

export interface LabZtunnelOptions {
  /** The ztunnel's built entry point (apps/ztunnel/dist/main.js). */
  entry: string;
  /** The controller's CA directory (its `root-cert.pem` is trusted for xDS and the CA). */
  caDir: string;
  env?: Record<string, string>;
  /**
   * Options for node itself (e.g. `--cpu-prof`, which NODE_OPTIONS does not take), after the
   * ones the image runs the ztunnel with (`node-options` beside its dist/, when present).
   */
  nodeArgs?: string[];
  readyTimeoutMs?: number;
  /** AUTH_TOKEN (default: a token for the node's ztunnel, minted with the controller's key). */
  authToken?: string;
}

/** The node options deploy/entrypoint.sh runs an app with: `<app>/node-options`, if any. */
export function deployedNodeOptions(entry: string): string[] {
  const file = path.join(path.dirname(entry), '..', 'node-options');
  return existsSync(file) ? readFileSync(file, 'utf8').split(/\s+/).filter(Boolean) : [];
}

export async function startLabZtunnel(
  sup: Supervisor,
  lab: Lab,
  node: string,
  opts: LabZtunnelOptions,
): Promise<Child> {
  const addr = `https://${CONTROL_PLANE_IP}:15012`;
  const root = path.join(opts.caDir, 'root-cert.pem');
  const token = opts.authToken ?? (await mintTokenFile(opts.caDir, ztunnelSubject(node)));
  return sup.start({
    name: `ztunnel-${node}`,
    command: process.execPath,
    args: [...deployedNodeOptions(opts.entry), ...(opts.nodeArgs ?? []), opts.entry],
    netns: lab.node(node).netns,
    env: {
      NODE_NAME: node,
      POD_NAME: `ztunnel-${node}`,
      XDS_ADDRESS: addr,
      CA_ADDRESS: addr,
      XDS_ROOT_CA: root,
      CA_ROOT_CA: root,
      AUTH_TOKEN: token,
      AMBIENT_CAPTURE: 'inpod',
      ...opts.env,
    },
    ready: { http: 'http://127.0.0.1:15021/healthz/ready' },
    readyTimeoutMs: opts.readyTimeoutMs ?? 30_000,
  });
}

export interface LabWaypointOptions {
  /** The waypoint's built entry point (apps/waypoint/dist/main.js). */
  entry: string;
  caDir: string;
  /** The lab pod the waypoint runs in (not enrolled; labelled with its Gateway's name). */
  pod: string;
  gatewayName?: string;
  serviceAccount?: string;
  env?: Record<string, string>;
}

/** A waypoint inside its own pod, as the Deployment istiod creates for a Gateway would run. */
export async function startLabWaypoint(sup: Supervisor, lab: Lab, opts: LabWaypointOptions): Promise<Child> {
  const addr = `https://${CONTROL_PLANE_IP}:15012`;
  const root = path.join(opts.caDir, 'root-cert.pem');
  const pod = lab.pod(opts.pod);
  const serviceAccount = opts.serviceAccount ?? 'waypoint';
  // The waypoint's own service account: it asks the CA for its own identity only.
  const token = await mintTokenFile(opts.caDir, { namespace: pod.namespace, serviceAccount });
  return sup.start({
    name: `waypoint-${pod.name}`,
    command: process.execPath,
    args: [opts.entry],
    netns: pod.netns,
    env: {
      POD_NAME: pod.name,
      POD_NAMESPACE: pod.namespace,
      SERVICE_ACCOUNT: serviceAccount,
      GATEWAY_NAME: opts.gatewayName ?? 'waypoint',
      INSTANCE_IP: pod.ip,
      XDS_ADDRESS: addr,
      CA_ADDRESS: addr,
      XDS_ROOT_CA: root,
      CA_ROOT_CA: root,
      AUTH_TOKEN: token,
      TERMINATION_GRACE_PERIOD_SECONDS: '1',
      ...opts.env,
    },
    ready: { http: 'http://127.0.0.1:15021/healthz/ready' },
    readyTimeoutMs: 30_000,
  });
}

/** GET a JSON document from inside a lab namespace (the body of testkit http-get). */
export async function labGetJson<T>(lab: Lab, where: string, url: string): Promise<T> {
  const res = await lab.exec(where, process.execPath, [testkitCli, 'http-get', url]);
  return JSON.parse(res.stdout).body as T;
}

/** The controller's /debug/config (translations counter, warnings). */
export function controllerState(lab: Lab): Promise<{ translations: number; warnings: string[] }> {
  return labGetJson(lab, 'underlay', `${CONTROLLER_DEBUG}/debug/config`);
}

/** True when at least `proxies` are connected and every one acknowledged every push. */
export async function allProxiesAcked(lab: Lab, proxies: number): Promise<boolean> {
  const conns = await labGetJson<{ types: { sentNonce?: string; ackedNonce?: string }[] }[]>(
    lab,
    'underlay',
    `${CONTROLLER_DEBUG}/debug/syncz`,
  );
  return conns.length >= proxies && conns.every((c) => c.types.every((t) => t.sentNonce === t.ackedNonce));
}

/**
 * Writes (or, with undefined, deletes) `<name>.yaml` in the controller's directory, then waits
 * until the controller translated it and all `proxies` acknowledged the result.
 */
export async function applyLabConfig(
  lab: Lab,
  configDir: string,
  name: string,
  yaml: string | undefined,
  opts: { proxies: number; timeoutMs?: number },
): Promise<void> {
  const before = (await controllerState(lab)).translations;
  const file = path.join(configDir, `${name}.yaml`);
  if (yaml === undefined) rmSync(file, { force: true });
  else writeFileSync(file, yaml);
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  for (;;) {
    if ((await controllerState(lab)).translations > before && (await allProxiesAcked(lab, opts.proxies)))
      return;
    if (Date.now() > deadline)
      throw new Error(`config ${name} was not acknowledged by ${opts.proxies} proxies in time`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
