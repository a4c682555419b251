// Resources of one type from a YAML or JSON file (proto3 JSON per resource) — for tests and
// local mode. The file holds a list, or `{resources: [...]}`; every resource is validated
// and named like an xDS response would be. Errors name the file, the entry and the reason.
// The YAML parser is loaded on first use: proxies that never read a file do not carry it.
import { readFile } from 'node:fs/promises';
import { XdsError } from './errors.js';
import type { ResourceType } from './resource-type.js';

export async function loadResourceFile<T>(file: string, type: ResourceType<T>): Promise<Map<string, T>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new XdsError('XDS_FILE', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  return parseResourceDocuments(text, type, file);
}

export async function parseResourceDocuments<T>(
  text: string,
  type: ResourceType<T>,
  source = '<inline>',
): Promise<Map<string, T>> {
  const { parseAllDocuments } = await import('yaml');
  const entries: unknown[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0)
      throw new XdsError('XDS_FILE', `${source}: invalid YAML: ${doc.errors[0]!.message}`);
    let value: unknown;
    try {
      value = doc.toJS();
    } catch (err) {
      // An alias without its anchor is reported only when the document is built.
      throw new XdsError('XDS_FILE', `${source}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (value === null || value === undefined) continue;
    if (Array.isArray(value)) entries.push(...value);
    else if (typeof value === 'object' && Array.isArray((value as { resources?: unknown }).resources)) {
      entries.push(...(value as { resources: unknown[] }).resources);
    } else entries.push(value);
  }
  const out = new Map<string, T>();
  entries.forEach((entry, i) => {
    const where = `${source} entry ${i + 1} (${type.codec.typeName})`;
    let resource: T;
    try {
      resource = type.codec.fromJson(entry);
    } catch (err) {
      throw new XdsError('XDS_FILE', `${where}: ${(err as Error).message}`, { cause: err });
    }
    const name = type.nameOf?.(resource);
    if (!name) throw new XdsError('XDS_FILE', `${where}: cannot tell the resource's name`);
    const reason = type.validate?.(resource, name);
    if (reason) throw new XdsError('XDS_FILE', `${where} "${name}": ${reason}`);
    if (out.has(name)) throw new XdsError('XDS_FILE', `${where}: "${name}" is defined twice`);
    out.set(name, resource);
  });
  return out;
}
