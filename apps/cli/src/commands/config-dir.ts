// The controller's files mode as a "cluster" for ambientctl: `--config-dir DIR` edits the
// directory of Kubernetes YAML the controller watches, as kubectl would edit the API server —
// a label set on the Namespace object where it is defined (comments and the other documents
// of the file kept), a Gateway written to its own file. The controller picks the change up
// within its debounce.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { yamlFiles } from '@ambient/controller/analyze';
import { type Document, parseAllDocuments, stringify } from 'yaml';

function findObject(
  dir: string,
  kind: string,
  name: string,
  namespace?: string,
): { file: string; docs: Document[]; doc: Document } | undefined {
  for (const file of yamlFiles(dir)) {
    const docs = parseAllDocuments(readFileSync(file, 'utf8'));
    for (const doc of docs) {
      const o = doc.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null;
      if (
        o?.kind === kind &&
        o.metadata?.name === name &&
        (namespace === undefined || (o.metadata.namespace ?? 'default') === namespace)
      )
        return { file, docs, doc };
    }
  }
  return undefined;
}

function writeDocs(file: string, docs: Document[]): void {
  writeFileSync(file, docs.map((d) => d.toString()).join('---\n'));
}

/** Sets (value) or removes (undefined) a label on a Namespace; creates the Namespace if absent. */
export function setNamespaceLabel(dir: string, ns: string, key: string, value: string | undefined): string {
  const found = findObject(dir, 'Namespace', ns);
  if (!found) {
    const file = path.join(dir, `namespace-${ns}.yaml`);
    writeFileSync(
      file,
      stringify({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns, ...(value !== undefined ? { labels: { [key]: value } } : {}) },
      }),
    );
    return file;
  }
  if (value === undefined) found.doc.deleteIn(['metadata', 'labels', key]);
  else found.doc.setIn(['metadata', 'labels', key], value);
  writeDocs(found.file, found.docs);
  return found.file;
}

export function gatewayFile(dir: string, namespace: string, name: string): string {
  return path.join(dir, `waypoint-${namespace}-${name}.yaml`);
}

export function writeGateway(
  dir: string,
  gateway: Record<string, unknown>,
  namespace: string,
  name: string,
): string {
  const existing = findObject(dir, 'Gateway', name, namespace);
  if (existing && existing.file !== gatewayFile(dir, namespace, name))
    throw new Error(`Gateway ${namespace}/${name} is already defined in ${existing.file}`);
  const file = gatewayFile(dir, namespace, name);
  writeFileSync(file, `# written by ambientctl waypoint apply\n${stringify(gateway)}`);
  return file;
}

export function deleteGateway(dir: string, namespace: string, name: string): boolean {
  const file = gatewayFile(dir, namespace, name);
  if (!existsSync(file)) return false;
  rmSync(file);
  return true;
}

export function listWaypoints(
  dir: string,
  namespace?: string,
): { namespace: string; name: string; for: string; file: string }[] {
  const out: { namespace: string; name: string; for: string; file: string }[] = [];
  for (const file of yamlFiles(dir))
    for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
      const o = doc.toJS() as {
        kind?: string;
        metadata?: { name?: string; namespace?: string; labels?: Record<string, string> };
        spec?: { gatewayClassName?: string };
      } | null;
      if (o?.kind !== 'Gateway' || o.spec?.gatewayClassName !== 'istio-waypoint') continue;
      const ns = o.metadata?.namespace ?? 'default';
      if (namespace && ns !== namespace) continue;
      out.push({
        namespace: ns,
        name: o.metadata?.name ?? '',
        for: o.metadata?.labels?.['istio.io/waypoint-for'] ?? 'service',
        file: path.relative(dir, file),
      });
    }
  return out;
}
