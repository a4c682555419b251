// @ambient/netsys inside real network namespaces: sockets created in a pod's namespace by a
// process outside it, original destinations after REDIRECT, the pod rule set installed
// idempotently and removed completely, and the client's IP kept with IP_TRANSPARENT.
import net from 'node:net';
import path from 'node:path';
import {
  connectInNetns,
  dumpPodRules,
  installPodRules,
  listenSocket,
  netnsId,
  originalDst,
  removePodRules,
  socketNetnsId,
  ZTUNNEL_MARK,
} from '@ambient/netsys';
import { Lab, netnsGate, Supervisor, testkitCli } from '@ambient/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const gate = await netnsGate('e2e/netns netsys');
const nsPath = (name: string) => `/var/run/netns/${name}`;

function serve(fd: number, onConn: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ allowHalfOpen: true }, onConn);
  return new Promise((resolve) => server.listen({ fd }, () => resolve(server)));
}

describe.skipIf(!gate.run)('netsys in network namespaces', () => {
  let lab: Lab;
  let sup: Supervisor;
  const servers: net.Server[] = [];

  beforeAll(async () => {
    lab = await Lab.create({
      prefix: 'amb-sys',
      nodes: [
        { name: 'node1', pods: [{ name: 'pod-a' }] },
        { name: 'node2', pods: [{ name: 'pod-b' }] },
      ],
    });
    sup = new Supervisor(path.resolve('test-logs', 'e2e-netsys'));
  });
  afterAll(async () => {
    for (const s of servers) s.close();
    await sup?.stopAll();
    await lab?.destroy();
  });

  it("a listener created in pod-b from outside lives there and serves pod-b's IP", async () => {
    const b = lab.pod('pod-b');
    const fd = listenSocket({ netns: nsPath(b.netns), host: '0.0.0.0', port: 7000 });
    expect(socketNetnsId(fd)).toBe(netnsId(nsPath(b.netns)));
    expect(socketNetnsId(fd)).not.toBe(netnsId('/proc/self/ns/net'));
    let seenFrom = '';
    servers.push(
      await serve(fd, (s) => {
        seenFrom = s.remoteAddress ?? '';
        s.end('hi from pod-b');
      }),
    );
    const res = await lab.exec('pod-a', process.execPath, [
      testkitCli,
      'tcp-send',
      b.ip,
      '7000',
      '--data',
      'x',
    ]);
    expect(res.stdout).toBe('hi from pod-b');
    expect(seenFrom.replace('::ffff:', '')).toBe(lab.pod('pod-a').ip);
  });

  it("a socket created in pod-a connects with pod-a's IP", async () => {
    const b = lab.pod('pod-b');
    let seenFrom = '';
    servers.push(
      await serve(listenSocket({ netns: nsPath(b.netns), host: '0.0.0.0', port: 7001 }), (s) => {
        seenFrom = s.remoteAddress ?? '';
        s.end();
      }),
    );
    const sock = connectInNetns({
      netns: nsPath(lab.pod('pod-a').netns),
      host: b.ip,
      port: 7001,
      mark: ZTUNNEL_MARK,
    });
    sock.on('end', () => sock.end()); // allowHalfOpen: close our side when the server closes its
    await new Promise((r) => sock.once('close', r));
    expect(seenFrom.replace('::ffff:', '')).toBe(lab.pod('pod-a').ip);
  });

  it('installs the pod rules idempotently, captures outbound to 15001 with the original destination, and removes them', async () => {
    const a = lab.pod('pod-a');
    const p = nsPath(a.netns);
    await installPodRules(p);
    await installPodRules(p); // again: no duplicates
    const rules = await dumpPodRules(p);
    expect(rules.match(/-A OUTPUT -j ISTIO_OUTPUT/g)).toHaveLength(2); // nat and mangle, once each
    expect(rules.match(/REDIRECT --to-ports 15001/g)).toHaveLength(1);
    expect(rules).toContain('REDIRECT --to-ports 15006');
    const captured: { ip: string; port: number }[] = [];
    servers.push(
      await serve(listenSocket({ netns: p, host: '0.0.0.0', port: 15001 }), (s) => {
        captured.push(originalDst(s));
        s.end('captured');
      }),
    );
    const res = await lab.exec('pod-a', process.execPath, [
      testkitCli,
      'tcp-send',
      lab.pod('pod-b').ip,
      '9999',
      '--data',
      'x',
    ]);
    expect(res.stdout).toBe('captured');
    expect(captured).toEqual([{ ip: lab.pod('pod-b').ip, port: 9999 }]);
    // ztunnel's own marked sockets are not captured.
    const marked = connectInNetns({ netns: p, host: lab.pod('pod-b').ip, port: 7001, mark: ZTUNNEL_MARK });
    marked.on('end', () => marked.end());
    await new Promise((r) => marked.once('close', r));
    expect(captured).toHaveLength(1);
    await removePodRules(p);
    expect(await dumpPodRules(p)).toBe('');
    const after = await lab.exec('pod-a', 'ip', ['rule', 'show']);
    expect(after.stdout).not.toContain('lookup 100');
  });

  it("connects to the app from the client's IP with IP_TRANSPARENT, replies routed back by the rules", async () => {
    const b = lab.pod('pod-b');
    const p = nsPath(b.netns);
    await installPodRules(p);
    try {
      await sup.start({
        name: 'app-b',
        command: process.execPath,
        args: [testkitCli, 'http-echo', '--port', '8080', '--name', 'pod-b'],
        netns: b.netns,
        ready: { tcp: 8080 },
      });
      const clientIp = lab.pod('pod-a').ip; // not an address of pod-b
      const sock = connectInNetns({
        netns: p,
        host: b.ip,
        port: 8080,
        mark: ZTUNNEL_MARK,
        transparent: true,
        bindIp: clientIp,
      });
      const body = await new Promise<string>((resolve, reject) => {
        let data = '';
        sock.on('data', (d: Buffer) => {
          data += d.toString();
        });
        sock.once('end', () => resolve(data));
        sock.once('error', reject);
        sock.once('connect', () => sock.end('GET / HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n'));
      });
      const answer = JSON.parse(body.slice(body.indexOf('\r\n\r\n') + 4));
      expect(answer.source.address).toBe(clientIp);
    } finally {
      await removePodRules(p);
    }
  });
});
