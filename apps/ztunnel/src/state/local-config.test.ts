import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { LocalConfigError, parseLocalConfig } from './local-config.js';

const example = readFileSync(
  fileURLToPath(new URL('../../examples/localhost.yaml', import.meta.url)),
  'utf8',
);

describe('LOCAL_XDS_PATH format', () => {
  it("loads Istio ztunnel's examples/localhost.yaml as written", () => {
    const c = parseLocalConfig(example, 'localhost.yaml');
    expect(c.workloads.map((w) => [w.uid, w.workloadIps, w.protocol, w.node])).toEqual([
      ['cluster1//v1/Pod/default/local', ['127.0.0.1'], 'HBONE', 'local'],
      ['cluster1//v1/Pod/default/local-tcp', ['127.0.0.2'], 'TCP', 'local'],
    ]);
    expect(c.workloads[0]!.services).toEqual({
      'default/example.com': { 80: 8080 },
      'default/example2.com': { 80: 8080 },
    });
    expect(c.services.map((s) => [s.hostname, s.vips, s.subjectAltNames])).toEqual([
      ['example.com', [{ network: '', ip: '127.10.0.1' }], ['spiffe://cluster.local/ns/default/sa/local']],
      ['example2.com', [{ network: 'remote', ip: '127.10.0.2' }], []],
    ]);
    const [p] = c.policies;
    expect([p!.name, p!.namespace, p!.scope, p!.action, p!.dryRun]).toEqual([
      'deny-9999',
      'default',
      1,
      0,
      false,
    ]);
    expect(p!.rules[0]!.clauses[0]!.matches[0]!.notDestinationPorts).toEqual([9999]);
  });

  it('accepts the older revision without dryRun', () => {
    const c = parseLocalConfig(example.replace(/^\s*dryRun: false\n/m, ''), 'old.yaml');
    expect(c.policies[0]!.dryRun).toBe(false);
  });

  it.each([
    [
      'workloads:\n- {name: a, namespace: b, workloadIps: ["10.0.0.1"], colour: red}\n',
      /workloads.0: Unrecognized key.*colour/,
    ],
    [
      'workloads:\n- {name: a, namespace: b, workloadIps: ["not-an-ip"]}\n',
      /workloads.0.workloadIps.0: not an IP address/,
    ],
    ['workloads:\n- {name: a, namespace: b, workloadIps: [], protocol: QUIC}\n', /workloads.0.protocol/],
    [
      'policies:\n- {name: p, namespace: n, scope: Namespace, action: Maybe, rules: []}\n',
      /policies.0.action/,
    ],
    ['services:\n- {name: s, namespace: n, hostname: h, vips: ["net/bad"]}\n', /vip "net\/bad" must be/],
    ['extra: 1\n', /Unrecognized key.*extra/],
    ['workloads: [\n', /invalid YAML/],
  ])('rejects %j with the field and the reason', (text, message) => {
    expect(() => parseLocalConfig(text, 'bad.yaml')).toThrow(LocalConfigError);
    expect(() => parseLocalConfig(text, 'bad.yaml')).toThrow(message);
  });

  it('ignores unknown keys inside match objects, as ztunnel does', () => {
    const c = parseLocalConfig(
      'policies:\n- {name: p, namespace: n, scope: Namespace, action: Allow, dryRun: false, rules: [[[{not_destination_ports: [1]}]]]}\n',
      'snake.yaml',
    );
    expect(c.policies[0]!.rules[0]!.clauses[0]!.matches[0]!.notDestinationPorts).toEqual([]);
  });
});
