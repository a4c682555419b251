// The in-box cluster itself: 2 nodes × 2 pods, an app on node 2 reached from a pod on
// node 1 across the underlay with the client pod's own IP; nothing left behind.
import path from 'node:path';
import { Lab, netnsGate, Supervisor, testkitCli } from '@ambient/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const gate = await netnsGate('e2e/netns lab');

describe.skipIf(!gate.run)('network-namespace lab', () => {
  let lab: Lab;
  let sup: Supervisor;

  beforeAll(async () => {
    lab = await Lab.create({
      prefix: 'amb-lab',
      nodes: [
        {
          name: 'node1',
          pods: [
            { name: 'client', namespace: 'shop' },
            { name: 'other', namespace: 'shop' },
          ],
        },
        {
          name: 'node2',
          pods: [
            { name: 'server', namespace: 'shop' },
            { name: 'spare', namespace: 'legacy' },
          ],
        },
      ],
    });
    sup = new Supervisor(path.resolve('test-logs', 'e2e-lab'));
  });

  afterAll(async () => {
    await sup?.stopAll();
    await lab?.destroy();
  });

  it('carries a request from a pod on node 1 to the app on node 2, which sees the client pod IP', async () => {
    const server = lab.pod('server');
    await sup.start({
      name: 'server-echo',
      command: process.execPath,
      args: [testkitCli, 'http-echo', '--port', '8080', '--name', 'server'],
      netns: server.netns,
      ready: { tcp: 8080 },
    });
    const res = await lab.exec('client', process.execPath, [
      testkitCli,
      'http-get',
      `http://${server.ip}:8080/hello?x=1`,
    ]);
    const { status, body } = JSON.parse(res.stdout);
    expect(status).toBe(200);
    expect(body).toMatchObject({ pod: 'server', path: '/hello', source: { address: lab.pod('client').ip } });
  });

  it('routes pod to pod on the same node too', async () => {
    const res = await lab.exec('other', process.execPath, [
      testkitCli,
      'http-get',
      `http://${lab.pod('server').ip}:8080/`,
    ]);
    expect(JSON.parse(res.stdout).body.source.address).toBe(lab.pod('other').ip);
  });

  it('tears down every namespace it made', async () => {
    const probe = await Lab.create({ prefix: 'amb-lab2', nodes: [{ name: 'n1', pods: [{ name: 'p1' }] }] });
    expect(await probe.remainingNamespaces()).toHaveLength(3);
    await probe.destroy();
    expect(await probe.remainingNamespaces()).toEqual([]);
  });

  it('sweeps leftovers of a crashed run with the same prefix', async () => {
    const crashed = await Lab.create({ prefix: 'amb-lab3', nodes: [{ name: 'n1' }] });
    // Simulate a crash: never destroyed; a new run with the same prefix starts.
    const again = await Lab.create({ prefix: 'amb-lab3', nodes: [{ name: 'n1' }] });
    expect(await crashed.remainingNamespaces()).toHaveLength(2);
    await again.destroy();
    expect(await crashed.remainingNamespaces()).toEqual([]);
  });
});
