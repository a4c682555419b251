// What `ambientctl analyze` reports (as `istioctl analyze` does): every object that does not
// load (file, object, field, reason), every warning of the translation the controller would
// do, and checks that only matter to a person reading their config — L7 rules for services no
// waypoint serves, subsets no DestinationRule defines, weights summing to 0.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type AnyObject, loadYaml } from '@ambient/model';
import { ModelStore } from './store.js';
import { DEFAULT_OPTIONS, type Objects, type TranslateOptions, translate } from './translate/index.js';
import { nsOf } from './translate/model-view.js';
import { ServiceIndex } from './translate/waypoint/services.js';

export interface Finding {
  level: 'Error' | 'Warning';
  /** `Kind/namespace/name` (or the file when the object cannot be named). */
  object: string;
  message: string;
}

/** Splits `Kind/ns/name: message` (the translation's warning form). */
function finding(level: Finding['level'], text: string): Finding {
  const m = /^([A-Za-z]+\/[^:\s]+(?:\/[^:\s]+)?): (.*)$/s.exec(text);
  return m ? { level, object: m[1]!, message: m[2]! } : { level, object: '-', message: text };
}

/** Every `.yaml`/`.yml` file below `dir`, sorted (what files mode and analyze read). */
export function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    if (statSync(full).isDirectory()) out.push(...yamlFiles(full));
    else if (/\.ya?ml$/.test(name)) out.push(full);
  }
  return out;
}

export function analyzeFiles(paths: string[], options: Partial<TranslateOptions> = {}): Finding[] {
  const findings: Finding[] = [];
  const objects: AnyObject[] = [];
  for (const p of paths) {
    const files = statSync(p).isDirectory() ? yamlFiles(p) : [p];
    for (const file of files) {
      const loaded = loadYaml(readFileSync(file, 'utf8'), path.relative(process.cwd(), file));
      objects.push(...loaded.objects);
      for (const e of loaded.errors)
        findings.push({
          level: 'Error',
          object: e.object ?? e.file,
          message: `${e.file}: ${e.field ? `${e.field}: ` : ''}${e.reason}`,
        });
    }
  }
  const store = new ModelStore();
  store.replaceSource('analyze', objects);
  findings.push(...analyzeObjects(store.view(), options));
  return findings;
}

export function analyzeObjects(objects: Objects, options: Partial<TranslateOptions> = {}): Finding[] {
  const o = { ...DEFAULT_OPTIONS, ...options };
  const t = translate(objects, o);
  const findings = t.warnings.map((w) => finding('Warning', w));
  const idx = new ServiceIndex(objects, o);
  const subsets = (host: string) =>
    (objects.DestinationRule ?? [])
      .filter((dr) => idx.fqdn(dr.spec.host, nsOf(dr)) === host)
      .flatMap((dr) => dr.spec.subsets?.map((s) => s.name) ?? []);
  for (const vs of objects.VirtualService ?? []) {
    const ref = `VirtualService/${nsOf(vs)}/${vs.metadata.name}`;
    const hosts = vs.spec.hosts.map((h) => idx.fqdn(h, nsOf(vs)));
    const unbound = hosts.filter((h) => idx.byHost.has(h) && !idx.bound.has(h));
    if (unbound.length && (!vs.spec.gateways?.length || vs.spec.gateways.includes('mesh')))
      findings.push({
        level: 'Warning',
        object: ref,
        message: `${unbound.join(', ')} ${unbound.length > 1 ? 'have' : 'has'} no waypoint: in ambient mode L7 routing needs one (label the namespace or service istio.io/use-waypoint)`,
      });
    for (const [i, rule] of (vs.spec.http ?? []).entries()) {
      const dests = [...(rule.route ?? []).map((r) => r.destination), ...(rule.mirror ? [rule.mirror] : [])];
      if ((rule.route?.length ?? 0) > 1 && (rule.route ?? []).reduce((s, r) => s + (r.weight ?? 0), 0) === 0)
        findings.push({ level: 'Warning', object: ref, message: `spec.http[${i}]: route weights sum to 0` });
      for (const d of dests) {
        if (!d.subset) continue;
        const host = idx.fqdn(d.host, nsOf(vs));
        if (!subsets(host).includes(d.subset))
          findings.push({
            level: 'Warning',
            object: ref,
            message: `spec.http[${i}]: subset ${d.subset} of ${host} is not defined by any DestinationRule (requests get 503)`,
          });
      }
    }
  }
  // The translation says some of these too (for services a waypoint serves): say each once,
  // the form naming the object and the field wins.
  const seen = new Set<string>();
  const unique = findings
    .filter((f) => !(f.object === '-' && /^subset .* is not defined/.test(f.message)))
    .filter((f) => {
      const key = `${f.object}|${f.message.replace(/[;(].*$/, '').trim()}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  return unique.sort((a, b) =>
    a.level === b.level ? a.object.localeCompare(b.object) : a.level === 'Error' ? -1 : 1,
  );
}
