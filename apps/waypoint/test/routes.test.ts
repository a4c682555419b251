// Route matching with Envoy's semantics (shared spec waypoint.md §1.2): full-match regexes,
// case sensitivity, presence and inverted matchers with treat_missing_header_as_empty, query
// parameters, path-separated prefixes; a resource with a bad regex does not compile.
import { RouteConfiguration } from '@ambient/proto';
import { describe, expect, it } from 'vitest';
import {
  compileRouteConfiguration,
  type RequestView,
  rewritePath,
  selectRoute,
} from '../src/routing/routes.js';

const view = (path: string, headers: Record<string, string> = {}, method = 'GET'): RequestView => ({
  method,
  path,
  authority: 'svc:9080',
  scheme: 'http',
  headers,
});

function table(routes: object[]) {
  return compileRouteConfiguration(
    RouteConfiguration.create({
      name: 't',
      virtualHosts: [{ name: 'vh', domains: ['*'], routes: routes as never }],
    }),
  );
}
const to = (name: string) => ({ cluster: name, timeout: {} });

describe('route matching', () => {
  const t = table([
    { name: 'exact', match: { path: '/exact' }, route: to('a') },
    { name: 'regex', match: { safeRegex: { regex: '/r/[0-9]+' } }, route: to('a') },
    { name: 'nocase', match: { prefix: '/CaSe', caseSensitive: { value: false } }, route: to('a') },
    { name: 'seg', match: { pathSeparatedPrefix: '/api' }, route: to('a') },
    {
      name: 'hdr',
      match: { prefix: '/h', headers: [{ name: 'x-user', stringMatch: { exact: 'jason' } }] },
      route: to('a'),
    },
    {
      name: 'present',
      match: { prefix: '/p', headers: [{ name: 'x-p', presentMatch: true }] },
      route: to('a'),
    },
    {
      name: 'without',
      match: {
        prefix: '/w',
        headers: [
          { name: 'x-w', stringMatch: { exact: 'foo' }, invertMatch: true, treatMissingHeaderAsEmpty: true },
        ],
      },
      route: to('a'),
    },
    {
      name: 'method',
      match: { prefix: '/m', headers: [{ name: ':method', stringMatch: { exact: 'POST' } }] },
      route: to('a'),
    },
    {
      name: 'query',
      match: {
        prefix: '/q',
        queryParameters: [{ name: 'v', stringMatch: { safeRegex: { regex: '\\d+' } } }],
      },
      route: to('a'),
    },
    { name: 'rewrite', match: { prefix: '/old/' }, route: { ...to('a'), prefixRewrite: '/new/' } },
    { name: 'fallback', match: { prefix: '/' }, route: to('b') },
  ]);
  const pick = (v: RequestView) => selectRoute(t, v)?.name;

  it.each([
    ['/exact', {}, 'GET', 'exact'],
    ['/exact?x=1', {}, 'GET', 'exact'],
    ['/exact/more', {}, 'GET', 'fallback'],
    ['/r/123', {}, 'GET', 'regex'],
    ['/r/123x', {}, 'GET', 'fallback'], // regexes match the whole path
    ['/case/x', {}, 'GET', 'nocase'],
    ['/api', {}, 'GET', 'seg'],
    ['/api/v1', {}, 'GET', 'seg'],
    ['/apix', {}, 'GET', 'fallback'],
    ['/h', { 'x-user': 'jason' }, 'GET', 'hdr'],
    ['/h', { 'x-user': 'Jason' }, 'GET', 'fallback'],
    ['/p', { 'x-p': '' }, 'GET', 'present'],
    ['/p', {}, 'GET', 'fallback'],
    ['/w', {}, 'GET', 'without'], // missing header compared as "" and inverted
    ['/w', { 'x-w': 'foo' }, 'GET', 'fallback'],
    ['/m', {}, 'POST', 'method'],
    ['/q?v=42', {}, 'GET', 'query'],
    ['/q?v=a42', {}, 'GET', 'fallback'],
  ])('%s %j %s → %s', (path, headers, method, want) => {
    expect(pick(view(path, headers as Record<string, string>, method))).toBe(want);
  });

  it('prefix rewrite keeps the rest of the path and the query', () => {
    const r = selectRoute(t, view('/old/books?id=1'))!;
    expect(rewritePath(r, '/old/books?id=1')).toBe('/new/books?id=1');
  });

  it('a bad regex makes the whole resource fail to compile (NACK, last good kept)', () => {
    expect(() => table([{ name: 'bad', match: { safeRegex: { regex: '(' } }, route: to('a') }])).toThrow(
      /route bad: invalid RE2 regex/,
    );
  });

  it('regexes have RE2 semantics: linear time on a catastrophic pattern; backreferences and lookaround refused', () => {
    // Regression: compiled to JS RegExp, `/api/(a+)+` against 30 `a`s and a `!` took 4.4 s.
    const t = table([{ name: 'evil', match: { safeRegex: { regex: '/api/(a+)+' } }, route: to('a') }]);
    const started = performance.now();
    expect(selectRoute(t, view(`/api/${'a'.repeat(30)}!`))).toBeUndefined();
    expect(selectRoute(t, view(`/api/${'a'.repeat(30)}`))?.name).toBe('evil');
    expect(performance.now() - started).toBeLessThan(200);
    for (const regex of ['(a)\\1', '(?=a)b', '(?<!a)b'])
      expect(() => table([{ name: 'perl', match: { safeRegex: { regex } }, route: to('a') }])).toThrow(
        /route perl: invalid RE2 regex/,
      );
    // Header and query-parameter regexes and regex rewrites run on the same engine.
    const h = table([
      {
        name: 'h',
        match: { prefix: '/', headers: [{ name: 'x', safeRegexMatch: { regex: '(b+)+' } }] },
        route: {
          ...to('a'),
          regexRewrite: { pattern: { regex: '^/svc/([^/]+)(/.*)$' }, substitution: '\\2/i/\\1' },
        },
      },
    ]);
    const t2 = performance.now();
    expect(selectRoute(h, view('/', { x: `${'b'.repeat(40)}c` }))).toBeUndefined();
    expect(performance.now() - t2).toBeLessThan(200);
    const r = selectRoute(h, view('/svc/foo/v1?q=1', { x: 'bbb' }))!;
    expect(rewritePath(r, '/svc/foo/v1?q=1')).toBe('/v1/i/foo?q=1');
  });

  it('weighted clusters summing to 0 are refused', () => {
    expect(() =>
      table([
        {
          name: 'w',
          match: { prefix: '/' },
          route: { weightedClusters: { clusters: [{ name: 'a', weight: { value: 0 } }] } },
        },
      ]),
    ).toThrow(/sum to 0/);
  });
});

describe('route matching under any input', () => {
  it('fuzz: route matching — any path and headers select a route or none, deterministically, without an exception', async () => {
    const fc = (await import('fast-check')).default;
    const t = table([
      { name: 'regex', match: { safeRegex: { regex: '/r/[0-9]+(/.*)?' } }, route: to('a') },
      { name: 'seg', match: { pathSeparatedPrefix: '/api' }, route: to('a') },
      {
        name: 'hdr',
        match: {
          prefix: '/',
          headers: [{ name: 'x-user', stringMatch: { safeRegex: { regex: '(j|a)+son' } } }],
        },
        route: to('a'),
      },
      {
        name: 'query',
        match: { prefix: '/q', queryParameters: [{ name: 'v', stringMatch: { prefix: '1' } }] },
        route: to('a'),
      },
      { name: 'nocase', match: { prefix: '/CaSe', caseSensitive: { value: false } }, route: to('a') },
    ]);
    const path = fc.string({
      unit: fc.constantFrom('/', 'a', 'r', 'p', 'i', 'q', '?', '=', '&', 'v', '1', '%', '.', 'C'),
      maxLength: 40,
    });
    fc.assert(
      fc.property(path, fc.option(fc.string({ maxLength: 60 }), { nil: undefined }), (p, user) => {
        const v = view(p.startsWith('/') ? p : `/${p}`, user === undefined ? {} : { 'x-user': user });
        expect(selectRoute(t, v)?.name).toBe(selectRoute(t, v)?.name);
      }),
    );
  });
});

describe('route configuration validation under any input', () => {
  it('fuzz: route configuration — any decoded RouteConfiguration compiles or is refused with an Error naming it (NACK)', async () => {
    const fc = (await import('fast-check')).default;
    const { RouteConfiguration: RC } = await import('@ambient/proto');
    const str = fc.string({ maxLength: 12 });
    const matcher = fc.oneof(
      fc.record({ exact: str }),
      fc.record({ prefix: str }),
      fc.record({
        safeRegex: fc.record({ regex: fc.oneof(str, fc.constantFrom('(', '(a)\\1', '[a-z]+', '.*')) }),
      }),
    );
    const route = fc.record(
      {
        name: str,
        match: fc.record(
          {
            prefix: str,
            path: str,
            safeRegex: fc.record({ regex: fc.oneof(str, fc.constantFrom('(', '/x/(a+)+', '(?=a)')) }),
            headers: fc.array(fc.record({ name: str, stringMatch: matcher }), { maxLength: 2 }),
            queryParameters: fc.array(fc.record({ name: str, stringMatch: matcher }), { maxLength: 2 }),
          },
          { requiredKeys: [] },
        ),
        route: fc.record(
          {
            cluster: str,
            weightedClusters: fc.record({
              clusters: fc.array(fc.record({ name: str, weight: fc.record({ value: fc.nat(200) }) }), {
                maxLength: 3,
              }),
            }),
            regexRewrite: fc.record({
              pattern: fc.record({ regex: fc.oneof(str, fc.constantFrom('(', '^/(.*)$')) }),
              substitution: str,
            }),
            prefixRewrite: str,
          },
          { requiredKeys: [] },
        ),
        directResponse: fc.record({ status: fc.integer({ min: 0, max: 999 }) }),
      },
      { requiredKeys: ['name'] },
    );
    fc.assert(
      fc.property(fc.array(route, { maxLength: 4 }), (routes) => {
        let rc: ReturnType<typeof RC.create>;
        try {
          rc = RC.create({
            name: 't',
            virtualHosts: [{ name: 'vh', domains: ['*'], routes: routes as never }],
          });
        } catch {
          return; // not even a RouteConfiguration: the xDS decoder refuses it before this
        }
        try {
          compileRouteConfiguration(rc);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          expect(err).not.toBeInstanceOf(TypeError);
          expect((err as Error).message.length).toBeGreaterThan(0);
        }
      }),
    );
  });
});
