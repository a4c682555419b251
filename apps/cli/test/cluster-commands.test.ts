// The objects and labels ambientctl writes to a cluster are exactly istioctl's.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { waypointGateway } from '../src/commands/cluster.js';

const CLI = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const run = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

describe('ambientctl waypoint / namespace', () => {
  it('waypoint apply --dry-run prints the Gateway istioctl creates (waypoint.md §3.1)', () => {
    expect(parse(run('waypoint', 'apply', '-n', 'bookinfo', '--for', 'service', '--dry-run'))).toEqual({
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'Gateway',
      metadata: { name: 'waypoint', namespace: 'bookinfo', labels: { 'istio.io/waypoint-for': 'service' } },
      spec: {
        gatewayClassName: 'istio-waypoint',
        listeners: [{ name: 'mesh', port: 15008, protocol: 'HBONE' }],
      },
    });
  });

  it('without --for there is no waypoint-for label (service is the default); --enroll-namespace says how it labels', () => {
    const out = run('waypoint', 'apply', '-n', 'shop', '--name', 'wp', '--enroll-namespace', '--dry-run');
    expect(parse(out.split('# then:')[0]!)).toMatchObject({ metadata: { name: 'wp', namespace: 'shop' } });
    expect(parse(out.split('# then:')[0]!).metadata.labels).toBeUndefined();
    expect(out).toContain('kubectl label namespace shop istio.io/use-waypoint=wp --overwrite');
  });

  it.each([
    [{ namespace: 'x', name: 'none' }, /"none" is reserved/],
    [{ namespace: 'x', name: 'w', for: 'pods' }, /--for must be one of service, workload, all, none/],
  ])('rejects %j', (o, message) => {
    expect(() => waypointGateway(o)).toThrow(message);
  });

  it('namespace enable / disable use the ambient label', () => {
    expect(run('namespace', 'enable', 'shop', '--dry-run').trim()).toBe(
      'kubectl label namespace shop istio.io/dataplane-mode=ambient --overwrite',
    );
    expect(run('namespace', 'disable', 'shop', '--dry-run').trim()).toBe(
      'kubectl label namespace shop istio.io/dataplane-mode-',
    );
  });
});
