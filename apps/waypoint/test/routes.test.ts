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
      /route bad: invalid regex/,
    );
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
