// One row per rule of shared spec ztunnel.md §6.1.
import { Authorization, type Init, type istio } from '@ambient/proto';
import { describe, expect, it } from 'vitest';
import { type Connection, compilePolicy, evaluate, selectPolicies } from './engine.js';

type Match = Init<istio.security.Match>;
const ip = (a: number, b: number, c: number, d: number, len = 32) => ({
  address: Uint8Array.of(a, b, c, d),
  length: len,
});

function policy(
  name: string,
  action: 'ALLOW' | 'DENY',
  rules: Match[][][],
  extra: Init<istio.security.Authorization> = {},
) {
  return compilePolicy(
    Authorization.create({
      name,
      namespace: 'shop',
      scope: 1,
      action: action === 'DENY' ? 1 : 0,
      rules: rules.map((clauses) => ({ clauses: clauses.map((matches) => ({ matches })) })),
      ...extra,
    }),
  );
}

const web = { trustDomain: 'cluster.local', namespace: 'shop', serviceAccount: 'web' };
const other = { trustDomain: 'cluster.local', namespace: 'frontend', serviceAccount: 'ui' };
const conn = (over: Partial<Connection> = {}): Connection => ({
  srcIp: '10.244.1.2',
  srcIdentity: web,
  dstIp: '10.244.2.7',
  dstPort: 9080,
  ...over,
});

describe('decision order', () => {
  it.each([
    ['no policies → allow', [], conn(), true, undefined],
    [
      'DENY that matches → deny, names the policy',
      [policy('d', 'DENY', [[[{ destinationPorts: [9080] }]]])],
      conn(),
      false,
      'shop/d',
    ],
    [
      'DENY that does not match → allow (no ALLOW policies)',
      [policy('d', 'DENY', [[[{ destinationPorts: [1] }]]])],
      conn(),
      true,
      undefined,
    ],
    [
      'DENY wins over a matching ALLOW',
      [
        policy('a', 'ALLOW', [[[{ destinationPorts: [9080] }]]]),
        policy('d', 'DENY', [[[{ destinationPorts: [9080] }]]]),
      ],
      conn(),
      false,
      'shop/d',
    ],
    [
      'matching ALLOW → allow, names it',
      [policy('a', 'ALLOW', [[[{ destinationPorts: [9080] }]]])],
      conn(),
      true,
      'shop/a',
    ],
    [
      'ALLOW policies exist but none match → deny',
      [policy('a', 'ALLOW', [[[{ destinationPorts: [1] }]]])],
      conn(),
      false,
      undefined,
    ],
    [
      'dry-run DENY is not enforced',
      [policy('d', 'DENY', [[[{ destinationPorts: [9080] }]]], { dryRun: true })],
      conn(),
      true,
      undefined,
    ],
    [
      'dry-run ALLOW does not count as an ALLOW policy',
      [policy('a', 'ALLOW', [[[{ destinationPorts: [1] }]]], { dryRun: true })],
      conn(),
      true,
      undefined,
    ],
  ])('%s', (_name, policies, c, allowed, decidedBy) => {
    const d = evaluate(policies, c);
    expect(d.allowed).toBe(allowed);
    expect(d.policy).toBe(decidedBy);
  });

  it('reports what a dry-run policy would have done', () => {
    const d = evaluate([policy('d', 'DENY', [[[{ destinationPorts: [9080] }]]], { dryRun: true })], conn());
    expect(d.dryRun).toEqual([{ policy: 'shop/d', action: 'DENY' }]);
  });

  it('says why it denied', () => {
    expect(evaluate([policy('a', 'ALLOW', [[[{ destinationPorts: [1] }]]])], conn()).reason).toBe(
      'allow policies exist, but none allowed',
    );
    expect(evaluate([policy('d', 'DENY', [[[]]])], conn()).reason).toBe('explicitly denied by: shop/d');
  });
});

describe('structure', () => {
  it.each([
    [
      'a policy with zero rules never matches: ALLOW with no rules allows nothing',
      policy('a', 'ALLOW', []),
      false,
    ],
    ['a DENY with zero rules is inert', policy('d', 'DENY', []), true],
    ['a rule with zero clauses matches everything (ALLOW)', policy('a', 'ALLOW', [[]]), true],
    ['a rule with zero clauses matches everything (DENY)', policy('d', 'DENY', [[]]), false],
    ['a clause with zero matches is true', policy('a', 'ALLOW', [[[]]]), true],
    ['an empty match object never matches', policy('a', 'ALLOW', [[[{}]]]), false],
    [
      'clauses are ANDed: one false clause fails the rule',
      policy('a', 'ALLOW', [[[{ destinationPorts: [9080] }], [{ destinationPorts: [1] }]]]),
      false,
    ],
    [
      'matches are ORed inside a clause',
      policy('a', 'ALLOW', [[[{ destinationPorts: [1] }, { destinationPorts: [9080] }]]]),
      true,
    ],
    [
      'rules are ORed',
      policy('a', 'ALLOW', [[[{ destinationPorts: [1] }]], [[{ destinationPorts: [9080] }]]]),
      true,
    ],
    [
      'field kinds inside a match are ANDed',
      policy('a', 'ALLOW', [[[{ destinationPorts: [9080], namespaces: [{ exact: 'other' }] }]]]),
      false,
    ],
  ])('%s', (_name, p, allowed) => {
    expect(evaluate([p], conn()).allowed).toBe(allowed);
  });
});

describe('fields', () => {
  const allowIf = (m: Match) => policy('a', 'ALLOW', [[[m]]]);
  it.each([
    [
      'principal exact (spiffe:// stripped)',
      { principals: [{ exact: 'cluster.local/ns/shop/sa/web' }] },
      conn(),
      true,
    ],
    ['principal prefix', { principals: [{ prefix: 'cluster.local/ns/shop/' }] }, conn(), true],
    ['principal suffix', { principals: [{ suffix: '/sa/web' }] }, conn(), true],
    ['principal presence with an identity', { principals: [{ presence: {} }] }, conn(), true],
    [
      'positive principal never matches without identity',
      { principals: [{ presence: {} }] },
      conn({ srcIdentity: undefined }),
      false,
    ],
    ['principal list is an OR', { principals: [{ exact: 'x' }, { suffix: '/sa/web' }] }, conn(), true],
    ['notPrincipals excludes', { notPrincipals: [{ exact: 'cluster.local/ns/shop/sa/web' }] }, conn(), false],
    [
      'notPrincipals [presence] matches only plaintext (STRICT mTLS)',
      { notPrincipals: [{ presence: {} }] },
      conn({ srcIdentity: undefined }),
      true,
    ],
    ['notPrincipals [presence] does not match mTLS', { notPrincipals: [{ presence: {} }] }, conn(), false],
    [
      'namespaces from the peer identity',
      { namespaces: [{ exact: 'frontend' }] },
      conn({ srcIdentity: other }),
      true,
    ],
    ['namespaces: wrong namespace', { namespaces: [{ exact: 'frontend' }] }, conn(), false],
    [
      'namespaces: no identity never matches',
      { namespaces: [{ presence: {} }] },
      conn({ srcIdentity: undefined }),
      false,
    ],
    ['notNamespaces', { notNamespaces: [{ exact: 'shop' }] }, conn(), false],
    [
      'serviceAccounts: namespace and SA, trust domain ignored',
      { serviceAccounts: [{ namespace: 'shop', serviceAccount: 'web' }] },
      conn({ srcIdentity: { ...web, trustDomain: 'other.td' } }),
      true,
    ],
    [
      'serviceAccounts: wrong SA',
      { serviceAccounts: [{ namespace: 'shop', serviceAccount: 'db' }] },
      conn(),
      false,
    ],
    [
      'notServiceAccounts',
      { notServiceAccounts: [{ namespace: 'shop', serviceAccount: 'web' }] },
      conn(),
      false,
    ],
    ['sourceIps CIDR containment', { sourceIps: [ip(10, 244, 0, 0, 16)] }, conn(), true],
    ['sourceIps outside', { sourceIps: [ip(10, 245, 0, 0, 16)] }, conn(), false],
    ['sourceIps /32', { sourceIps: [ip(10, 244, 1, 2)] }, conn(), true],
    [
      'sourceIps IPv4-mapped peer',
      { sourceIps: [ip(10, 244, 1, 2)] },
      conn({ srcIp: '::ffff:10.244.1.2' }),
      true,
    ],
    ['notSourceIps', { notSourceIps: [ip(10, 244, 1, 0, 24)] }, conn(), false],
    ['destinationIps', { destinationIps: [ip(10, 244, 2, 7)] }, conn(), true],
    ['notDestinationIps', { notDestinationIps: [ip(10, 244, 2, 0, 24)] }, conn(), false],
    ['destinationPorts equality', { destinationPorts: [80, 9080] }, conn(), true],
    ['notDestinationPorts', { notDestinationPorts: [9080] }, conn(), false],
    ['notDestinationPorts: other port', { notDestinationPorts: [9999] }, conn(), true],
  ])('%s', (_name, m, c, allowed) => {
    expect(evaluate([allowIf(m as Match)], c).allowed).toBe(allowed);
  });
});

describe('selectPolicies', () => {
  const all = new Map(
    [
      policy('ns-wide', 'ALLOW', [], { scope: 1 }),
      policy('other-ns', 'ALLOW', [], { scope: 1, namespace: 'bank' }),
      compilePolicy(Authorization.create({ name: 'mesh', namespace: 'istio-system', scope: 0 })),
      policy('selected', 'ALLOW', [], { scope: 2 }),
      policy('not-selected', 'ALLOW', [], { scope: 2 }),
    ].map((p) => [p.key, p]),
  );
  it('takes namespace-scoped policies of the workload namespace, all global ones, and the listed selector policies', () => {
    const { policies, missing } = selectPolicies(all, {
      namespace: 'shop',
      authorizationPolicies: ['shop/selected', 'shop/gone'],
    });
    expect(policies.map((p) => p.key).sort()).toEqual(['istio-system/mesh', 'shop/ns-wide', 'shop/selected']);
    expect(missing).toEqual(['shop/gone']);
  });
});
