// Renders deploy/ the way `kubectl kustomize` does for what we use there: the listed
// resources, with the kustomization's namespace set on every namespaced object. Used by
// `ambientctl install --dry-run` and by the manifest validation test.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

const CLUSTER_SCOPED = new Set([
  'Namespace',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PriorityClass',
]);

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export function renderKustomization(dir: string): KubeObject[] {
  const k = parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')) as {
    namespace?: string;
    resources?: string[];
  };
  const out: KubeObject[] = [];
  for (const res of k.resources ?? []) {
    for (const doc of parseAllDocuments(readFileSync(path.join(dir, res), 'utf8'))) {
      if (doc.errors.length > 0) throw new Error(`${res}: invalid YAML: ${doc.errors[0]!.message}`);
      const o = doc.toJS() as KubeObject | null;
      if (!o) continue;
      if (k.namespace && !CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = k.namespace;
      out.push(o);
    }
  }
  return out;
}
