// `ambientctl analyze -f DIR` finds each mistake seeded in test/fixtures/analyze/.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const FIXTURES = fileURLToPath(new URL('./fixtures/analyze', import.meta.url));

function analyze(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, 'analyze', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('ambientctl analyze', () => {
  const r = analyze('-f', FIXTURES, '-o', 'json');
  const findings = JSON.parse(r.out) as { level: string; object: string; message: string }[];
  const find = (object: string, text: RegExp) =>
    findings.find((f) => f.object === object && text.test(f.message));

  it('exits 1 when an object does not load, naming the file, the object and the field', () => {
    expect(r.code).toBe(1);
    expect(find('Service/shop/bad-port', /spec\.ports\.0\.port/)).toMatchObject({ level: 'Error' });
  });

  it('warns about HTTP rules in a policy only ztunnel enforces', () => {
    expect(
      find('AuthorizationPolicy/shop/get-only', /ztunnel does not support HTTP attributes/),
    ).toBeDefined();
  });

  it('warns about a service bound to a waypoint that does not exist', () => {
    expect(find('Service/shop/cart', /waypoint shop\/missing-waypoint does not exist/)).toBeDefined();
  });

  it('warns about L7 routing for a service without a waypoint, unknown subsets and weights summing to 0', () => {
    expect(find('VirtualService/shop/cart', /has no waypoint/)).toBeDefined();
    expect(
      find('VirtualService/shop/cart', /subset v1 of cart\.shop\.svc\.cluster\.local is not defined/),
    ).toBeDefined();
    expect(find('VirtualService/shop/cart', /weights sum to 0/)).toBeDefined();
  });

  it('prints a table for people, and says so when all is well', () => {
    const t = analyze('-f', FIXTURES);
    expect(t.out).toMatch(/^LEVEL\s+OBJECT\s+MESSAGE/);
    const clean = analyze('-f', fileURLToPath(new URL('../../../examples/demo', import.meta.url)));
    expect(clean.code).toBe(0);
  });
});
