// Loading Kubernetes YAML: many documents per file, `List` objects expanded; each object
// checked against its schema. A bad object becomes an error naming the file, the object
// (kind/namespace/name), the field and the reason — and the others still load.
import { parseAllDocuments } from 'yaml';
import { type AnyObject, type Kind, NAMESPACED, SCHEMAS } from './schemas.js';

export interface LoadError {
  file: string;
  /** `Kind/namespace/name` when the object could be identified. */
  object?: string;
  field?: string;
  reason: string;
}

export interface Loaded {
  objects: AnyObject[];
  errors: LoadError[];
  /** Objects of kinds the mesh does not use (Deployments, ConfigMaps, …): ignored. */
  ignored: number;
}

export function formatLoadError(e: LoadError): string {
  return `${e.file}${e.object ? `: ${e.object}` : ''}${e.field ? `: ${e.field}` : ''}: ${e.reason}`;
}

export function objectRef(o: {
  kind: string;
  metadata: { namespace?: string | undefined; name: string };
}): string {
  return o.metadata.namespace
    ? `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`
    : `${o.kind}/${o.metadata.name}`;
}

export function loadYaml(text: string, file: string, defaultNamespace = 'default'): Loaded {
  const out: Loaded = { objects: [], errors: [], ignored: 0 };
  const docs = parseAllDocuments(text);
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      out.errors.push({ file, reason: `invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}` });
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      // e.g. an alias whose anchor is missing (`*x`): the parser reports it only here.
      out.errors.push({ file, reason: `invalid YAML: ${(err as Error).message.split('\n')[0]}` });
      continue;
    }
    if (value === null || value === undefined) continue;
    const items = isList(value) ? value.items : [value];
    for (const item of items) loadOne(item, file, defaultNamespace, out);
  }
  return out;
}

function isList(v: unknown): v is { items: unknown[] } {
  return (
    typeof v === 'object' &&
    v !== null &&
    (v as { kind?: string }).kind === 'List' &&
    Array.isArray((v as { items?: unknown }).items)
  );
}

function loadOne(item: unknown, file: string, defaultNamespace: string, out: Loaded): void {
  if (typeof item !== 'object' || item === null) {
    out.errors.push({ file, reason: 'a document is not an object' });
    return;
  }
  const raw = item as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const kind = typeof raw.kind === 'string' ? raw.kind : undefined;
  const name = typeof raw.metadata?.name === 'string' ? raw.metadata.name : '(no name)';
  if (!kind) {
    out.errors.push({ file, object: name, field: 'kind', reason: 'missing' });
    return;
  }
  if (!(kind in SCHEMAS)) {
    out.ignored++;
    return;
  }
  const k = kind as Kind;
  const ns =
    typeof raw.metadata?.namespace === 'string'
      ? raw.metadata.namespace
      : NAMESPACED.has(k)
        ? defaultNamespace
        : undefined;
  const ref = ns ? `${k}/${ns}/${name}` : `${k}/${name}`;
  const parsed = SCHEMAS[k].safeParse(item);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      out.errors.push({
        file,
        object: ref,
        field: issue.path.join('.') || '(object)',
        reason: issue.message,
      });
    return;
  }
  const o = parsed.data as AnyObject;
  if (NAMESPACED.has(k) && !o.metadata.namespace) o.metadata.namespace = defaultNamespace;
  out.objects.push(o);
}
