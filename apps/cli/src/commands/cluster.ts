// `ambientctl namespace enable|disable NS` and `ambientctl waypoint apply|list|delete` — the
// same objects and labels istioctl uses (shared spec waypoint.md §3.1–3.3), applied with
// kubectl to the current cluster, or printed with --dry-run.
import { spawnSync } from 'node:child_process';
import { stringify } from 'yaml';
import { table } from '../output.js';
import { deleteGateway, listWaypoints, setNamespaceLabel, writeGateway } from './config-dir.js';

export const DATAPLANE_MODE = 'istio.io/dataplane-mode';
export const USE_WAYPOINT = 'istio.io/use-waypoint';
export const WAYPOINT_FOR = 'istio.io/waypoint-for';
const FOR_VALUES = ['service', 'workload', 'all', 'none'];

/** The Gateway `istioctl waypoint apply` creates. */
export function waypointGateway(o: {
  namespace: string;
  name: string;
  for?: string;
}): Record<string, unknown> {
  if (o.name === 'none') throw new Error('"none" is reserved and cannot name a waypoint');
  if (o.for !== undefined && !FOR_VALUES.includes(o.for))
    throw new Error(`--for must be one of ${FOR_VALUES.join(', ')}`);
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'Gateway',
    metadata: {
      name: o.name,
      namespace: o.namespace,
      ...(o.for ? { labels: { [WAYPOINT_FOR]: o.for } } : {}),
    },
    spec: {
      gatewayClassName: 'istio-waypoint',
      listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
    },
  };
}

function kubectl(args: string[], input?: string): number {
  const res = spawnSync('kubectl', args, {
    input,
    stdio: [input === undefined ? 'inherit' : 'pipe', 'inherit', 'inherit'],
  });
  if (res.error) {
    process.stderr.write(
      `kubectl is needed for this command (${res.error.message}); use --dry-run to print what it would do\n`,
    );
    return 1;
  }
  return res.status ?? 1;
}

export function namespaceMode(ns: string, enable: boolean, dryRun: boolean, configDir?: string): number {
  if (configDir && !dryRun) {
    const file = setNamespaceLabel(configDir, ns, DATAPLANE_MODE, enable ? 'ambient' : undefined);
    process.stdout.write(`namespace/${ns} ${enable ? 'labeled' : 'unlabeled'} ${DATAPLANE_MODE} (${file})\n`);
    return 0;
  }
  const args = [
    'label',
    'namespace',
    ns,
    enable ? `${DATAPLANE_MODE}=ambient` : `${DATAPLANE_MODE}-`,
    ...(enable ? ['--overwrite'] : []),
  ];
  if (dryRun) {
    process.stdout.write(`kubectl ${args.join(' ')}\n`);
    return 0;
  }
  return kubectl(args);
}

export function waypointApply(o: {
  namespace: string;
  name: string;
  for?: string;
  enrollNamespace: boolean;
  dryRun: boolean;
  configDir?: string;
}): number {
  const gw = waypointGateway(o);
  const yaml = stringify(gw);
  if (o.configDir && !o.dryRun) {
    const file = writeGateway(o.configDir, gw, o.namespace, o.name);
    process.stdout.write(`waypoint ${o.namespace}/${o.name} applied (${file})\n`);
    if (o.enrollNamespace) {
      const ns = setNamespaceLabel(o.configDir, o.namespace, USE_WAYPOINT, o.name);
      process.stdout.write(`namespace/${o.namespace} labeled with "${USE_WAYPOINT}=${o.name}" (${ns})\n`);
    }
    return 0;
  }
  if (o.dryRun) {
    process.stdout.write(yaml);
    if (o.enrollNamespace)
      process.stdout.write(
        `# then: kubectl label namespace ${o.namespace} ${USE_WAYPOINT}=${o.name} --overwrite\n`,
      );
    return 0;
  }
  const rc = kubectl(['apply', '-f', '-'], yaml);
  if (rc !== 0 || !o.enrollNamespace) return rc;
  return kubectl(['label', 'namespace', o.namespace, `${USE_WAYPOINT}=${o.name}`, '--overwrite']);
}

export function waypointList(namespace: string | undefined, configDir?: string): number {
  if (configDir) {
    process.stdout.write(table(listWaypoints(configDir, namespace)));
    return 0;
  }
  return kubectl([
    'get',
    'gateways.gateway.networking.k8s.io',
    ...(namespace ? ['-n', namespace] : ['-A']),
    '--field-selector',
    'spec.gatewayClassName=istio-waypoint',
  ]);
}

export function waypointDelete(namespace: string, name: string, configDir?: string): number {
  if (configDir) {
    if (!deleteGateway(configDir, namespace, name)) {
      process.stderr.write(`no waypoint ${namespace}/${name} written by ambientctl in ${configDir}\n`);
      return 1;
    }
    process.stdout.write(`waypoint ${namespace}/${name} deleted\n`);
    return 0;
  }
  return kubectl(['delete', 'gateways.gateway.networking.k8s.io', name, '-n', namespace]);
}
