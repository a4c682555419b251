// L7 authorization semantics (shared spec waypoint.md §4), one row per rule.
import { describe, expect, it } from 'vitest';
import { compileL7Policy, evaluateL7, pathMatcher, type RequestAttributes } from './l7.js';
import { normalizeRequestPath } from './path-normalization.js';

const req = (o: Partial<RequestAttributes> = {}): RequestAttributes => ({
  principal: 'cluster.local/ns/shop/sa/frontend',
  sourceIp: '10.244.1.2',
  destinationIp: '10.96.0.1',
  destinationPort: 9080,
  host: 'reviews:9080',
  method: 'GET',
  path: '/api/books',
  headers: {},
  ...o,
});

describe('L7 authorization', () => {
  it('CUSTOM (unsupported, fail closed) → DENY → no ALLOW allows → ALLOW must match', () => {
    const deny = compileL7Policy('d', 'shop', {
      action: 'DENY',
      rules: [{ to: [{ operation: { methods: ['DELETE'] } }] }],
    });
    const allow = compileL7Policy('a', 'shop', {
      rules: [
        {
          from: [{ source: { principals: ['cluster.local/ns/shop/sa/frontend'] } }],
          to: [{ operation: { paths: ['/api/*'] } }],
        },
      ],
    });
    expect(evaluateL7([deny], req()).allowed).toBe(true);
    expect(evaluateL7([deny, allow], req({ method: 'DELETE' }))).toMatchObject({
      allowed: false,
      policy: 'shop/d',
    });
    expect(evaluateL7([deny, allow], req()).allowed).toBe(true);
    expect(evaluateL7([allow], req({ path: '/admin' })).allowed).toBe(false);
    expect(evaluateL7([allow], req({ principal: 'cluster.local/ns/shop/sa/other' })).allowed).toBe(false);
    const custom = compileL7Policy('c', 'shop', { action: 'CUSTOM', provider: { name: 'ext' }, rules: [{}] });
    expect(custom.problems[0]).toMatch(/CUSTOM/);
    expect(evaluateL7([custom], req()).allowed).toBe(false);
  });

  it('spec {} (ALLOW, no rules) allows nothing; rules [{}] allows all', () => {
    expect(evaluateL7([compileL7Policy('x', 'ns', {})], req()).allowed).toBe(false);
    expect(evaluateL7([compileL7Policy('x', 'ns', { rules: [{}] })], req()).allowed).toBe(true);
  });

  it('an invalid value drops the whole ALLOW rule, but only the condition in a DENY rule', () => {
    const allow = compileL7Policy('a', 'ns', {
      rules: [{ to: [{ operation: { methods: ['GET'] } }], when: [{ key: 'bogus', values: ['x'] }] }],
    });
    expect(allow.problems.join()).toMatch(/unknown condition key bogus/);
    expect(evaluateL7([allow], req()).allowed).toBe(false);
    const deny = compileL7Policy('d', 'ns', {
      action: 'DENY',
      rules: [{ to: [{ operation: { methods: ['GET'] } }], when: [{ key: 'bogus', values: ['x'] }] }],
    });
    expect(evaluateL7([deny], req()).allowed).toBe(false); // wider deny
  });

  it.each([
    ['/api/{*}/reviews', '/api/42/reviews', true],
    ['/api/{*}/reviews', '/api/4/2/reviews', false],
    ['/api/{**}', '/api', true],
    ['/api/{**}', '/api/a/b/c', true],
    ['/api/*', '/api/x', true],
    ['*.html', '/index.html', true],
  ])('path %s matches %s: %s', (pattern, path, want) => {
    expect(pathMatcher(pattern)(path)).toBe(want);
  });

  it('matches the path the proxy normalised (dot segments resolved before evaluation)', () => {
    const n = normalizeRequestPath('/api/../admin');
    expect(n).toEqual({ ok: true, target: '/admin', path: '/admin' });
    const deny = compileL7Policy('d', 'ns', {
      action: 'DENY',
      rules: [{ to: [{ operation: { paths: ['/admin*'] } }] }],
    });
    expect(evaluateL7([deny], req({ path: n.ok ? n.path : '' })).allowed).toBe(false);
  });

  it('TCP layer: an ALLOW rule with HTTP attributes matches nothing; a DENY rule treats them as matching', () => {
    const spec = (action: 'ALLOW' | 'DENY') => ({
      action,
      rules: [
        {
          from: [{ source: { principals: ['cluster.local/ns/shop/sa/web'] } }],
          to: [{ operation: { methods: ['GET'], ports: ['9090'] } }],
        },
      ],
    });
    const tcp = (p: string, port = 9090) =>
      req({ principal: p, destinationPort: port, method: '', path: '', headers: {} });
    const allow = compileL7Policy('a', 'shop', spec('ALLOW'), 'tcp');
    expect(evaluateL7([allow], tcp('cluster.local/ns/shop/sa/web')).allowed).toBe(false);
    expect(allow.problems.join()).toMatch(/methods cannot apply to TCP traffic/);
    const deny = compileL7Policy('d', 'shop', spec('DENY'), 'tcp');
    expect(evaluateL7([deny], tcp('cluster.local/ns/shop/sa/web')).allowed).toBe(false);
    expect(evaluateL7([deny], tcp('cluster.local/ns/shop/sa/other')).allowed).toBe(true);
    expect(evaluateL7([deny], tcp('cluster.local/ns/shop/sa/web', 9091)).allowed).toBe(true);
    expect(deny.problems.join()).toMatch(/treated as matching/);
    // L4-only policies compile the same on both layers; `spec: {}` denies all.
    const l4 = compileL7Policy(
      'l4',
      'shop',
      { rules: [{ from: [{ source: { namespaces: ['shop'] } }] }] },
      'tcp',
    );
    expect(evaluateL7([l4], tcp('cluster.local/ns/shop/sa/x')).allowed).toBe(true);
    expect(evaluateL7([l4], tcp('cluster.local/ns/other/sa/x')).allowed).toBe(false);
    expect(
      evaluateL7([compileL7Policy('all', 'shop', {}, 'tcp')], tcp('cluster.local/ns/shop/sa/x')).allowed,
    ).toBe(false);
  });

  it('hosts are case-insensitive; methods are not; when keys read headers, JWT claims, source', () => {
    const p = compileL7Policy('a', 'shop', {
      rules: [
        {
          to: [{ operation: { hosts: ['REVIEWS:9080'], methods: ['GET'] } }],
          when: [
            { key: 'request.headers[x-env]', values: ['prod*'] },
            { key: 'request.auth.claims[groups]', values: ['admins'] },
            { key: 'source.namespace', values: ['shop'] },
            { key: 'source.ip', notValues: ['10.0.0.0/8'] },
          ],
        },
      ],
    });
    const ok = req({
      headers: { 'x-env': 'production' },
      claims: { groups: ['users', 'admins'] },
      sourceIp: '192.168.1.1',
    });
    expect(evaluateL7([p], ok).allowed).toBe(true);
    expect(evaluateL7([p], { ...ok, method: 'get' }).allowed).toBe(false);
    expect(evaluateL7([p], { ...ok, claims: { groups: ['users'] } }).allowed).toBe(false);
    expect(evaluateL7([p], { ...ok, sourceIp: '10.1.2.3' }).allowed).toBe(false);
  });

  it('requestPrincipals ["*"] requires a validated JWT', () => {
    const p = compileL7Policy('a', 'ns', { rules: [{ from: [{ source: { requestPrincipals: ['*'] } }] }] });
    expect(evaluateL7([p], req()).allowed).toBe(false);
    expect(evaluateL7([p], req({ requestPrincipal: 'iss/sub' })).allowed).toBe(true);
  });
});

describe('authorization under any input', () => {
  it('fuzz: authorization — any policy compiles (problems listed), and evaluation never throws', async () => {
    const fc = (await import('fast-check')).default;
    const values = fc.array(
      fc.oneof(
        fc.string({ maxLength: 12 }),
        fc.constantFrom('*', '10.0.0.0/8', '/api/{*}', '/x/{**}', 'GET', 'cluster.local/ns/a/sa/b'),
      ),
      { maxLength: 3 },
    );
    const source = fc.dictionary(
      fc.constantFrom(
        'principals',
        'notPrincipals',
        'namespaces',
        'ipBlocks',
        'remoteIpBlocks',
        'requestPrincipals',
        'serviceAccounts',
        'bogus',
      ),
      values,
    );
    const operation = fc.dictionary(
      fc.constantFrom('hosts', 'methods', 'paths', 'notPaths', 'ports', 'bogus'),
      values,
    );
    const when = fc.record(
      {
        key: fc.constantFrom(
          'source.ip',
          'request.headers[x]',
          'request.auth.claims[a][b]',
          'destination.port',
          'nope',
        ),
        values,
      },
      { requiredKeys: ['key'] },
    );
    const spec = fc.record(
      {
        action: fc.constantFrom('ALLOW', 'DENY', 'AUDIT', 'CUSTOM'),
        rules: fc.array(
          fc.record(
            {
              from: fc.array(
                source.map((s) => ({ source: s })),
                { maxLength: 2 },
              ),
              to: fc.array(
                operation.map((o) => ({ operation: o })),
                { maxLength: 2 },
              ),
              when: fc.array(when, { maxLength: 2 }),
            },
            { requiredKeys: [] },
          ),
          { maxLength: 3 },
        ),
      },
      { requiredKeys: [] },
    );
    const attrs = fc.record({
      principal: fc.option(fc.string({ maxLength: 30 }), { nil: undefined }),
      sourceIp: fc.oneof(fc.ipV4(), fc.ipV6(), fc.string({ maxLength: 10 })),
      destinationIp: fc.ipV4(),
      destinationPort: fc.integer({ min: 0, max: 70000 }),
      host: fc.string({ maxLength: 10 }),
      method: fc.constantFrom('GET', 'POST', ''),
      path: fc.string({ maxLength: 20 }),
      headers: fc.dictionary(fc.constantFrom('x', 'y'), fc.string({ maxLength: 5 })),
      claims: fc.option(fc.jsonValue({ maxDepth: 3 }) as never, { nil: undefined }),
    });
    fc.assert(
      fc.property(spec, attrs, fc.constantFrom<'http' | 'tcp'>('http', 'tcp'), (s, a, layer) => {
        const p = compileL7Policy('p', 'ns', s as never, layer);
        const d = evaluateL7([p], a as never);
        expect(typeof d.allowed).toBe('boolean');
      }),
    );
  });
});
