// A real ztunnel process on Istio's examples/localhost.yaml, fully offline (FAKE_CA, no xDS),
// in dedicated mode for the workload `default/local`, as Istio's Development.md runs it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Supervisor } from '@ambient/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { ZTUNNEL_MAIN } from './harness.js';

const sup = new Supervisor(path.resolve('test-logs', 'ztunnel-local-file'));
afterAll(() => sup.stopAll(2000));

describe('LOCAL_XDS_PATH', () => {
  it("starts on Istio's examples/localhost.yaml and serves it in /config_dump", async () => {
    const host = '127.0.1.9';
    await sup.start({
      name: 'ztunnel-localhost-yaml',
      command: process.execPath,
      args: [ZTUNNEL_MAIN],
      env: {
        FAKE_CA: 'true',
        XDS_ADDRESS: '',
        LOCAL_XDS_PATH: fileURLToPath(new URL('../examples/localhost.yaml', import.meta.url)),
        PROXY_MODE: 'dedicated',
        PROXY_WORKLOAD_INFO: 'default/local/default',
        AMBIENT_ADMIN_ADDR: `${host}:15000`,
        AMBIENT_STATS_ADDR: `${host}:15020`,
        AMBIENT_READINESS_ADDR: `${host}:15021`,
      },
      ready: { http: `http://${host}:15021/healthz/ready` },
    });
    const dump = (await (await fetch(`http://${host}:15000/config_dump`)).json()) as Record<string, unknown>;
    expect((dump.workloads as { name: string }[]).map((w) => w.name)).toEqual(['local', 'local-tcp']);
    expect((dump.services as { hostname: string }[]).map((s) => s.hostname)).toEqual([
      'example.com',
      'example2.com',
    ]);
    expect(dump.policies).toEqual([
      {
        name: 'deny-9999',
        namespace: 'default',
        scope: 'Namespace',
        action: 'Allow',
        dryRun: false,
        rules: 1,
      },
    ]);
    expect((dump.staticConfig as { workloads: unknown[] }).workloads).toHaveLength(2);
    expect((dump.certificates as { identity: string; state: string }[])[0]).toMatchObject({
      identity: 'spiffe://cluster.local/ns/default/sa/default',
      state: 'Available',
    });
  });

  it('refuses to start on an invalid file and says what is wrong', async () => {
    const child = await sup.start({
      name: 'ztunnel-bad-file',
      command: process.execPath,
      args: [ZTUNNEL_MAIN],
      env: {
        FAKE_CA: 'true',
        XDS_ADDRESS: '',
        LOCAL_XDS: 'workloads:\n- {name: a, namespace: b, workloadIps: [nope]}\n',
        NODE_NAME: 'n',
      },
    });
    await child.exited;
    expect(child.exitCode).not.toBe(0);
    expect(await child.output()).toMatch(
      /LOCAL_XDS: 1 problem\(s\):\s+workloads\.0\.workloadIps\.0: not an IP address/,
    );
  });
});
