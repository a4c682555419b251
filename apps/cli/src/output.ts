// Output for people (aligned tables) and for scripts (`-o json|yaml`).
import { stringify } from 'yaml';

export type Format = 'table' | 'json' | 'yaml';

export function print(rows: Record<string, unknown>[], format: Format, raw?: unknown): void {
  if (format === 'json') return void process.stdout.write(`${JSON.stringify(raw ?? rows, null, 2)}\n`);
  if (format === 'yaml') return void process.stdout.write(stringify(raw ?? rows));
  process.stdout.write(table(rows));
}

export function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return 'no resources\n';
  const cols = Object.keys(rows[0]!);
  const cell = (v: unknown) =>
    v === undefined || v === null ? '' : Array.isArray(v) ? v.join(',') : String(v);
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (vals: string[]) =>
    `${vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd()}\n`;
  return line(cols.map((c) => c.toUpperCase())) + rows.map((r) => line(cols.map((c) => cell(r[c])))).join('');
}
