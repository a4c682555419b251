// ambientctl against the controller's files mode and ztunnels on the in-box cluster (issue:
// install, operate, demo): `namespace enable` changes enrolment as `ztunnel-config workloads`
// shows it; `waypoint apply --enroll-namespace` puts a working waypoint in the path (its pod
// runs as the Deployment the controller creates in kube mode would); `waypoint delete` takes
// it out again.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  allProxiesAcked,
  type Child,
  controllerState,
  Lab,
  netnsGate,
  podManifest,
  Supervisor,
  startLabController,
  startLabWaypoint,
  startLabZtunnel,
  testkitCli,
} from '@ambient/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const gate = await netnsGate('e2e/netns ambientctl');
const root = (p: string) => fileURLToPath(new URL(`../../${p}`, import.meta.url));
const CLI = root('apps/cli/dist/main.js');

describe.skipIf(!gate.run)('ambientctl on the files-mode controller and the lab', () => {
  let lab: Lab;
  let sup: Supervisor;
  let waypoint: Child;
  const dir = mkdtempSync(path.join(tmpdir(), 'amb-ctl-'));
  const configDir = path.join(dir, 'config');

  const ctl = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ambientctl ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  /** Waits until the controller translated a change and the 3 proxies acked it. */
  const settled = async (before: number) => {
    for (let i = 0; i < 200; i++) {
      if ((await controllerState(lab)).translations > before && (await allProxiesAcked(lab, 3))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error('the change was not acknowledged in time');
  };
  const workloads = () =>
    JSON.parse(ctl('ztunnel-config', 'workloads', '--netns', lab.node('node1').netns, '-o', 'json')) as {
      name: string;
      protocol: string;
    }[];
  const callServer = async () => {
    const r = await lab.exec(
      'client',
      process.execPath,
      [testkitCli, 'http-get', 'http://10.96.0.20:80/', '--timeout-ms', '5000'],
      {
        allowFailure: true,
      },
    );
    return r.code === 0 ? (JSON.parse(r.stdout) as { status: number }) : undefined;
  };
  const waypointRequests = async () =>
    (await waypoint.output())
      .split('\n')
      .filter((l) => l.includes('"scope":"access"') && l.includes('server.shop.svc')).length;

  beforeAll(async () => {
    lab = await Lab.create({
      prefix: 'amb-ctl',
      nodes: [
        {
          name: 'node1',
          pods: [
            { name: 'client', namespace: 'shop' },
            { name: 'waypoint', namespace: 'shop' },
          ],
        },
        { name: 'node2', pods: [{ name: 'server', namespace: 'shop' }] },
      ],
    });
    sup = new Supervisor(path.resolve('test-logs', 'e2e-ambientctl'));
    mkdirSync(configDir, { recursive: true });
    writeFileSync(
      path.join(configDir, 'cluster.yaml'),
      [
        '# the namespace starts outside the mesh\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop',
        'apiVersion: v1\nkind: Service\nmetadata: {name: server, namespace: shop}\nspec: {clusterIP: 10.96.0.20, selector: {app: server}, ports: [{name: http, port: 80, targetPort: 8080}]}',
        'apiVersion: v1\nkind: Service\nmetadata: {name: waypoint, namespace: shop}\nspec: {clusterIP: 10.96.0.21, selector: {gateway.networking.k8s.io/gateway-name: waypoint}, ports: [{name: mesh, port: 15008}]}',
        podManifest(lab.pod('client'), { serviceAccount: 'client', labels: { app: 'client' } }),
        podManifest(lab.pod('server'), { serviceAccount: 'server', labels: { app: 'server' } }),
        podManifest(lab.pod('waypoint'), {
          serviceAccount: 'waypoint',
          labels: { 'gateway.networking.k8s.io/gateway-name': 'waypoint', 'istio.io/dataplane-mode': 'none' },
        }),
      ].join('\n---\n'),
    );
    const caDir = path.join(dir, 'ca');
    await startLabController(sup, lab, {
      entry: root('apps/controller/dist/main.js'),
      configDir,
      caDir,
      env: { AMBIENT_DEBOUNCE_MS: '50' },
    });
    await sup.start({
      name: 'app-server',
      command: process.execPath,
      args: [testkitCli, 'http-echo', '--port', '8080', '--name', 'server'],
      netns: lab.pod('server').netns,
      ready: { tcp: 8080 },
    });
    for (const node of ['node1', 'node2'])
      await startLabZtunnel(sup, lab, node, { entry: root('apps/ztunnel/dist/main.js'), caDir });
    waypoint = await startLabWaypoint(sup, lab, {
      entry: root('apps/waypoint/dist/main.js'),
      caDir,
      pod: 'waypoint',
    });
  }, 120_000);

  afterAll(async () => {
    await sup?.stopAll(3000);
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('namespace enable: the pods of shop become HBONE workloads in ztunnel-config', async () => {
    expect(workloads().find((w) => w.name === 'client')?.protocol).toBe('TCP');
    const before = (await controllerState(lab)).translations;
    expect(ctl('namespace', 'enable', 'shop', '--config-dir', configDir)).toContain(
      'labeled istio.io/dataplane-mode',
    );
    await settled(before);
    expect(workloads().find((w) => w.name === 'client')?.protocol).toBe('HBONE');
    expect((await callServer())?.status).toBe(200);
    expect(await waypointRequests()).toBe(0);
  }, 60_000);

  it('waypoint apply --enroll-namespace: traffic to the service goes through the waypoint; delete takes it out', async () => {
    let before = (await controllerState(lab)).translations;
    ctl('waypoint', 'apply', '-n', 'shop', '--enroll-namespace', '--config-dir', configDir);
    await settled(before);
    expect(ctl('waypoint', 'list', '--config-dir', configDir)).toMatch(/shop\s+waypoint\s+service/);
    expect((await callServer())?.status).toBe(200);
    expect(await waypointRequests()).toBe(1);
    before = (await controllerState(lab)).translations;
    ctl('waypoint', 'delete', 'waypoint', '-n', 'shop', '--config-dir', configDir);
    await settled(before);
    expect((await callServer())?.status).toBe(200);
    expect(await waypointRequests()).toBe(1); // not through the waypoint any more
  }, 60_000);
});
