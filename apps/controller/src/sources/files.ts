// The files source: a directory of Kubernetes YAML (recursively), watched. Changes are
// debounced; each reload parses every file. A file with invalid YAML keeps its last good
// objects; an invalid object keeps its last good version; both are reported (log and
// /debug/config) — bad input loses nothing that was serving.
import { watch } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { type AnyObject, formatLoadError, type LoadError, loadYaml, objectRef } from '@ambient/model';
import type { Logger } from '@ambient/telemetry';
import type { ModelStore } from '../store.js';

export class FilesSource {
  private readonly lastGood = new Map<string, Map<string, AnyObject>>();
  /** mtime:size of each file at its last read: unchanged files are not parsed again. */
  private readonly stamps = new Map<string, string>();
  /** Errors of each file at its last read (kept for unchanged files). */
  private readonly fileErrors = new Map<string, LoadError[]>();
  private timer: NodeJS.Timeout | undefined;
  private watcher: ReturnType<typeof watch> | undefined;
  private reloading = Promise.resolve();
  /** Problems of the last reload, for /debug/config and logs. */
  errors: LoadError[] = [];
  loads = 0;

  constructor(
    private readonly dir: string,
    private readonly store: ModelStore,
    private readonly logger: Logger,
    private readonly debounceMs = 100,
  ) {}

  async start(): Promise<void> {
    await this.reload();
    this.watcher = watch(this.dir, { recursive: true }, () => this.schedule());
    this.watcher.on('error', (err) =>
      this.logger.error({ dir: this.dir, error: err.message }, 'watching the configuration directory failed'),
    );
  }

  stop(): void {
    this.watcher?.close();
    if (this.timer) clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.reloading = this.reloading
        .then(() => this.reload())
        .catch((err: Error) => this.logger.error({ error: err.message }, 'reload failed'));
    }, this.debounceMs);
  }

  /** Reads every file now (also the initial load). */
  async reload(): Promise<void> {
    const files = await listYaml(this.dir);
    const errors: LoadError[] = [];
    const seen = new Set<string>();
    for (const file of files) {
      seen.add(file);
      const rel = path.relative(this.dir, file);
      let text: string;
      try {
        const st = await stat(file);
        const stamp = `${st.mtimeMs}:${st.size}`;
        if (this.stamps.get(file) === stamp) {
          errors.push(...(this.fileErrors.get(file) ?? []));
          continue; // unchanged since the last read
        }
        this.stamps.set(file, stamp);
        text = await readFile(file, 'utf8');
      } catch (err) {
        errors.push({ file: rel, reason: `cannot read: ${(err as Error).message}` });
        continue;
      }
      const loaded = loadYaml(text, rel);
      errors.push(...loaded.errors);
      this.fileErrors.set(file, loaded.errors);
      const previous = this.lastGood.get(file) ?? new Map<string, AnyObject>();
      if (loaded.errors.some((e) => e.object === undefined)) {
        continue; // invalid YAML: the whole file keeps its last good objects
      }
      const next = new Map<string, AnyObject>(loaded.objects.map((o) => [objectRef(o), o]));
      for (const e of loaded.errors) {
        if (e.object && previous.has(e.object) && !next.has(e.object))
          next.set(e.object, previous.get(e.object)!);
      }
      this.lastGood.set(file, next);
      this.store.replaceSource(`file:${file}`, [...next.values()]);
    }
    for (const file of [...this.lastGood.keys()]) {
      if (!seen.has(file)) {
        this.lastGood.delete(file);
        this.stamps.delete(file);
        this.fileErrors.delete(file);
        this.store.replaceSource(`file:${file}`, []);
      }
    }
    this.loads++;
    this.errors = errors;
    for (const e of errors)
      this.logger.error(
        { file: e.file, object: e.object, field: e.field },
        `invalid configuration: ${formatLoadError(e)} (last good state kept)`,
      );
  }
}

async function listYaml(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.name.startsWith('.')) continue;
    if (entry.isDirectory()) out.push(...(await listYaml(full)));
    else if (/\.(ya?ml|json)$/.test(entry.name)) out.push(full);
  }
  return out.sort();
}
