// `ambientctl install [--dry-run]`, `ambientctl uninstall`: render deploy/ and print it, or
// apply / delete it with kubectl (the cluster from the current kubeconfig).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { renderKustomization } from './render.js';

const DEPLOY = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'deploy');

export function install(o: { dryRun: boolean; uninstall?: boolean }): number {
  const objects = renderKustomization(DEPLOY);
  const yaml = objects.map((x) => stringify(x)).join('---\n');
  if (o.dryRun) {
    process.stdout.write(yaml);
    return 0;
  }
  const verb = o.uninstall ? 'delete' : 'apply';
  process.stderr.write(
    `• ${verb === 'apply' ? 'installing' : 'removing'} ${objects.length} objects (kubectl ${verb}) …\n`,
  );
  const res = spawnSync('kubectl', [verb, '-f', '-', ...(o.uninstall ? ['--ignore-not-found'] : [])], {
    input: yaml,
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  if (res.error) {
    process.stderr.write(
      `kubectl is needed to ${verb} the manifests (${res.error.message}); or use --dry-run and apply the output yourself\n`,
    );
    return 1;
  }
  if (res.status === 0 && !o.uninstall) {
    process.stderr.write(
      '• done. Requires Istio base CRDs and Gateway API CRDs. Next: ambientctl namespace enable <ns> (or: kubectl label namespace <ns> istio.io/dataplane-mode=ambient)\n',
    );
  }
  return res.status ?? 1;
}
