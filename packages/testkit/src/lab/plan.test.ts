import { describe, expect, it } from 'vitest';
import { belongsToPrefix, ipInCidr, LabPlanError, planCluster, planNamespaces } from './plan.js';

describe('planCluster', () => {
  const plan = planCluster({
    prefix: 'amb-t1',
    nodes: [
      { name: 'node1', pods: [{ name: 'a', namespace: 'shop' }, { name: 'b' }] },
      { name: 'node2', pods: [{ name: 'c', ip: '10.244.2.9' }, { name: 'd' }] },
    ],
  });

  it.each([
    ['a', 'node1', '10.244.1.2', 'amb-t1-a', 'vp0', 'shop'],
    ['b', 'node1', '10.244.1.3', 'amb-t1-b', 'vp1', 'default'],
    ['c', 'node2', '10.244.2.9', 'amb-t1-c', 'vp0', 'default'],
    ['d', 'node2', '10.244.2.2', 'amb-t1-d', 'vp1', 'default'],
  ])(
    'pod %s lands on %s with %s in netns %s (node side %s, namespace %s)',
    (name, node, ip, netns, ifName, ns) => {
      const pod = plan.pods.find((p) => p.name === name)!;
      expect(pod).toMatchObject({ node, ip, netns, nodeIfName: ifName, namespace: ns });
    },
  );

  it('gives each node its own pod CIDR, gateway and underlay address', () => {
    expect(plan.nodes.map((n) => [n.netns, n.podCidr, n.gatewayIp, n.underlayIp])).toEqual([
      ['amb-t1-node1', '10.244.1.0/24', '10.244.1.1', '172.18.0.2'],
      ['amb-t1-node2', '10.244.2.0/24', '10.244.2.1', '172.18.0.3'],
    ]);
  });

  it('lists every namespace with the prefix, underlay first', () => {
    const names = planNamespaces(plan);
    expect(names[0]).toBe('amb-t1-underlay');
    expect(names).toHaveLength(7);
    expect(names.every((n) => belongsToPrefix(n, 'amb-t1'))).toBe(true);
  });

  it('skips explicitly taken addresses when assigning automatic ones', () => {
    const p = planCluster({
      prefix: 'x',
      nodes: [{ name: 'n', pods: [{ name: 'p1' }, { name: 'p2', ip: '10.244.1.2' }] }],
    });
    expect(p.pods.map((x) => x.ip)).toEqual(['10.244.1.3', '10.244.1.2']);
  });

  it.each([
    [{ prefix: 'Bad_Prefix', nodes: [{ name: 'n' }] }, /prefix "Bad_Prefix" is invalid/],
    [{ prefix: 'p', nodes: [] }, /needs 1 to 200 nodes/],
    [{ prefix: 'p', nodes: [{ name: 'n' }, { name: 'n' }] }, /node "n" is declared twice/],
    [
      { prefix: 'p', nodes: [{ name: 'n', pods: [{ name: 'a' }, { name: 'a' }] }] },
      /pod "a" is declared twice/,
    ],
    [
      { prefix: 'p', nodes: [{ name: 'n', pods: [{ name: 'a', ip: '10.244.2.5' }] }] },
      /not a usable host address of 10.244.1.0\/24/,
    ],
    [
      { prefix: 'p', nodes: [{ name: 'n', pods: [{ name: 'a', ip: '10.244.1.1' }] }] },
      /not a usable host address/,
    ],
    [
      {
        prefix: 'p',
        nodes: [
          {
            name: 'n',
            pods: [
              { name: 'a', ip: '10.244.1.7' },
              { name: 'b', ip: '10.244.1.7' },
            ],
          },
        ],
      },
      /used by two pods/,
    ],
    [{ prefix: 'p', nodes: [{ name: 'Node1' }] }, /node name "Node1" is invalid/],
    [
      { prefix: 'p', nodes: [{ name: 'n', pods: [{ name: 'underlay' }] }] },
      /"p-underlay" would be used twice/,
    ],
  ])('rejects %j', (spec, message) => {
    expect(() => planCluster(spec)).toThrow(LabPlanError);
    expect(() => planCluster(spec)).toThrow(message);
  });
});

describe('ipInCidr', () => {
  it.each([
    ['10.244.1.5', '10.244.1.0/24', true],
    ['10.244.2.5', '10.244.1.0/24', false],
    ['255.255.255.255', '255.255.255.0/24', true],
    ['1.2.3.4', '0.0.0.0/0', true],
    ['10.0.0.1', '10.0.0.1/32', true],
    ['10.0.0.2', '10.0.0.1/32', false],
  ])('%s in %s → %s', (ip, cidr, expected) => {
    expect(ipInCidr(ip, cidr)).toBe(expected);
  });
});

describe('belongsToPrefix', () => {
  it.each([
    ['amb-t1-node1', 'amb-t1', true],
    ['amb-t10-node1', 'amb-t1', false],
    ['amb-t1', 'amb-t1', false],
    ['other-node1', 'amb-t1', false],
  ])('%s with prefix %s → %s', (name, prefix, expected) => {
    expect(belongsToPrefix(name, prefix)).toBe(expected);
  });
});
