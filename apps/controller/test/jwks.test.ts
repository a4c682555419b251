// RequestAuthentication `jwksUri`: the controller fetches the keys and sends them inline, as
// istiod does by default — waypoints never fetch URLs a policy names (before: every waypoint
// fetched the URI, triggered by any client's token, and echoed fetch errors in 401 bodies).
// A real controller on loopback against a real HTTP server.
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { structToPlain } from '@ambient/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Controller } from '../src/server.js';
import { startTestController, type TestController } from './helpers.js';

let t: TestController;
let controller: Controller;
let server: http.Server;
let fetches = 0;
const KEYS = {
  keys: [
    {
      kty: 'EC',
      crv: 'P-256',
      x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU',
      y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0',
      kid: 'k1',
    },
  ],
};

const cluster = (uri: string) => `
apiVersion: v1
kind: Namespace
metadata: {name: bookinfo, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: bookinfo}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: bookinfo}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  jwtRules:
  - issuer: testing@secure.istio.io
    jwksUri: ${uri}
`;

function sentSpec(): Record<string, unknown> | undefined {
  const p = controller.translation.waypoint.policies.get('RequestAuthentication/bookinfo/jwt');
  return p?.spec ? structToPlain(p.spec as never) : undefined;
}

async function eventually<T>(what: string, get: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

beforeAll(async () => {
  server = http.createServer((req, res) => {
    fetches++;
    if (req.url === '/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(KEYS));
    } else {
      res.writeHead(500);
      res.end('internal');
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  t = await startTestController(cluster(`http://127.0.0.1:${port}/jwks.json`), { AMBIENT_DEBOUNCE_MS: '10' });
  controller = t.controller;
}, 30_000);

afterAll(async () => {
  await t?.stop();
  await new Promise((r) => server?.close(r));
});

describe('jwksUri is resolved by the controller', () => {
  it('the waypoint receives the keys inline and no URI', async () => {
    const spec = await eventually('inlined keys', () => {
      const s = sentSpec() as { jwtRules: { jwks?: string; jwksUri?: string }[] } | undefined;
      return s?.jwtRules[0]?.jwks?.includes('k1') ? s : undefined;
    });
    expect(spec.jwtRules[0]!.jwksUri).toBeUndefined();
    expect(JSON.parse(spec.jwtRules[0]!.jwks!)).toEqual(KEYS);
    expect(fetches).toBe(1);
  });

  it('an unreachable URI fails closed: an empty key set, a warning naming the field, retries backed off', async () => {
    const port = (server.address() as AddressInfo).port;
    writeFileSync(path.join(t.configDir, 'cluster.yaml'), cluster(`http://127.0.0.1:${port}/broken`));
    const spec = await eventually('the empty key set', () => {
      const s = sentSpec() as { jwtRules: { jwks?: string; jwksUri?: string }[] } | undefined;
      return s?.jwtRules[0]?.jwks === '{"keys":[]}' ? s : undefined;
    });
    expect(spec.jwtRules[0]!.jwksUri).toBeUndefined();
    await eventually('the warning', () =>
      controller.warnings.find((w) =>
        /RequestAuthentication\/bookinfo\/jwt: spec.jwtRules\[0\].jwksUri: cannot fetch .*HTTP 500/.test(w),
      ),
    );
    const before = fetches;
    await new Promise((r) => setTimeout(r, 500));
    expect(fetches - before).toBeLessThanOrEqual(1);
  });
});
