// The controller's translation, one row per rule of shared spec ztunnel.md §3.1/§3.3/§6.2
// and waypoint.md §3, from YAML as a user writes it.
import { loadYaml } from '@ambient/model';
import { Address, Authorization, type istio } from '@ambient/proto';
import { describe, expect, it } from 'vitest';
import { ModelStore } from '../store.js';
import { type Objects, translate } from './index.js';

function objects(yaml: string): Objects {
  const { objects: list, errors } = loadYaml(yaml, 'test.yaml');
  if (errors.length) throw new Error(JSON.stringify(errors));
  const store = new ModelStore();
  store.replaceSource('test', list);
  return store.view();
}

const ns = (name: string, labels = '{}') =>
  `---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ${name}, labels: ${labels}}\n`;
const pod = (name: string, namespace: string, ip: string, labels = '{}', extra = '') =>
  `---\napiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: ${namespace}, labels: ${labels}${extra}}\nspec: {nodeName: node1, serviceAccountName: sa-${name}, containers: [{name: app, ports: [{name: http-web, containerPort: 8080}]}]}\nstatus: {phase: Running, podIP: ${ip}, conditions: [{type: Ready, status: "True"}]}\n`;

const wl = (t: ReturnType<typeof translate>, uid: string): istio.workload.Workload =>
  Address.create(t.addresses.get(uid) as never).workload!;
const svc = (t: ReturnType<typeof translate>, name: string): istio.workload.Service =>
  Address.create(t.addresses.get(name) as never).service!;
const authz = (t: ReturnType<typeof translate>, key: string) =>
  t.authorizations.has(key)
    ? Authorization.toJson(Authorization.create(t.authorizations.get(key) as never))
    : undefined;

describe('Pod → Workload', () => {
  const t = translate(
    objects(
      ns('shop', '{istio.io/dataplane-mode: ambient}') +
        ns('legacy') +
        pod('reviews-v2-7d9f6c5b4-abcde', 'shop', '10.244.2.7', '{app: reviews, version: v2}') +
        pod('opted-out', 'shop', '10.244.2.8', '{istio.io/dataplane-mode: none}') +
        pod('old', 'legacy', '10.244.3.2') +
        pod('self-enrolled', 'legacy', '10.244.3.3', '{istio.io/dataplane-mode: ambient}') +
        `---\napiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\nspec: {clusterIP: 10.96.0.20, selector: {app: reviews}, ports: [{name: http, port: 9080, targetPort: http-web}, {port: 90}]}\n`,
    ),
  );
  const w = wl(t, 'Kubernetes//Pod/shop/reviews-v2-7d9f6c5b4-abcde');

  it.each([
    ['uid is <cluster>//Pod/<ns>/<name>', () => w.uid, 'Kubernetes//Pod/shop/reviews-v2-7d9f6c5b4-abcde'],
    ['address bytes', () => [...w.addresses[0]!], [10, 244, 2, 7]],
    ['enrolled namespace → HBONE', () => w.tunnelProtocol, 1],
    ['service account', () => w.serviceAccount, 'sa-reviews-v2-7d9f6c5b4-abcde'],
    ['node', () => w.node, 'node1'],
    ['canonical name from app', () => w.canonicalName, 'reviews'],
    ['canonical revision from version', () => w.canonicalRevision, 'v2'],
    ['workload name from the Deployment', () => w.workloadName, 'reviews-v2'],
    ['ready → HEALTHY', () => w.status, 0],
    [
      'named target port resolved from the container',
      () => w.services['shop/reviews.shop.svc.cluster.local']!.ports[0]!.targetPort,
      8080,
    ],
    [
      'numeric default target port = port',
      () => w.services['shop/reviews.shop.svc.cluster.local']!.ports[1]!.targetPort,
      90,
    ],
    ['pod label none opts out', () => wl(t, 'Kubernetes//Pod/shop/opted-out').tunnelProtocol, 0],
    [
      'not enrolled namespace → NONE (still sent)',
      () => wl(t, 'Kubernetes//Pod/legacy/old').tunnelProtocol,
      0,
    ],
    [
      'pod label ambient enrols the pod alone',
      () => wl(t, 'Kubernetes//Pod/legacy/self-enrolled').tunnelProtocol,
      1,
    ],
  ])('%s', (_name, get, expected) => {
    expect(get()).toEqual(expected);
  });

  it('Service: resource name <ns>/<hostname>, VIP, ports with named target port unresolved (0)', () => {
    const s = svc(t, 'shop/reviews.shop.svc.cluster.local');
    expect(s.hostname).toBe('reviews.shop.svc.cluster.local');
    expect([...s.addresses[0]!.address]).toEqual([10, 96, 0, 20]);
    expect(s.ports.map((p) => [p.servicePort, p.targetPort, p.appProtocol])).toEqual([
      [9080, 0, 1],
      [90, 90, 0],
    ]);
  });

  it('a Service without a selector takes its endpoints from EndpointSlices naming the pod', () => {
    const t2 = translate(
      objects(
        ns('shop', '{istio.io/dataplane-mode: ambient}') +
          pod('db-0', 'shop', '10.0.0.7') +
          '---\napiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\nspec: {clusterIP: 10.96.5.5, ports: [{name: sql, port: 5432}]}\n' +
          '---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: db-abc, namespace: shop, labels: {kubernetes.io/service-name: db}}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.7], targetRef: {kind: Pod, name: db-0, namespace: shop}}]\nports: [{name: sql, port: 15432}]\n',
      ),
    );
    expect(
      wl(t2, 'Kubernetes//Pod/shop/db-0').services['shop/db.shop.svc.cluster.local']!.ports[0],
    ).toMatchObject({ servicePort: 5432, targetPort: 15432 });
  });

  it('passes the ambient.dev/netns annotation as a Workload extension', () => {
    const t2 = translate(
      objects(
        ns('shop', '{istio.io/dataplane-mode: ambient}') +
          pod('p', 'shop', '10.0.0.1', '{}', ', annotations: {ambient.dev/netns: /var/run/netns/x}'),
      ),
    );
    expect(wl(t2, 'Kubernetes//Pod/shop/p').extensions[0]!.name).toBe('ambient.dev/netns');
  });
});

describe('AuthorizationPolicy → Authorization', () => {
  const policy = (name: string, spec: string, namespace = 'shop', meta = '') =>
    `---\napiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${namespace}${meta}}\nspec: ${spec}\n`;
  const t = translate(
    objects(
      policy(
        'ns-allow',
        '{action: ALLOW, rules: [{from: [{source: {principals: ["cluster.local/ns/shop/sa/web", "*/sa/admin"]}}], to: [{operation: {ports: ["9080", "bad"]}}]}]}',
      ) +
        policy(
          'sel',
          '{selector: {matchLabels: {app: reviews}}, action: DENY, rules: [{from: [{source: {namespaces: ["legacy*"], serviceAccounts: ["bot"]}}]}]}',
        ) +
        policy(
          'mesh',
          '{action: DENY, rules: [{from: [{source: {ipBlocks: ["192.168.0.0/16", "10.1.2.3"]}}]}]}',
          'istio-system',
        ) +
        policy(
          'l7-allow',
          '{action: ALLOW, rules: [{to: [{operation: {methods: [GET]}}]}, {from: [{source: {namespaces: [shop]}}]}]}',
        ) +
        policy(
          'l7-deny',
          '{action: DENY, rules: [{to: [{operation: {methods: [DELETE], ports: ["8080"]}}]}, {to: [{operation: {paths: ["/admin"]}}]}]}',
        ) +
        policy('custom', '{action: CUSTOM, provider: {name: ext}, rules: [{}]}') +
        policy(
          'for-waypoint',
          '{targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}], action: ALLOW}',
        ) +
        policy(
          'when',
          '{action: ALLOW, rules: [{when: [{key: source.ip, values: ["10.0.0.0/8"]}, {key: destination.port, notValues: ["22"]}, {key: "request.headers[x]", values: [a]}]}]}',
        ) +
        policy('dry', '{action: DENY, rules: [{}]}', 'shop', ', annotations: {istio.io/dry-run: "true"}') +
        policy('nothing', '{action: ALLOW}'),
    ),
  );

  it('namespace policy: scope NAMESPACE, principals as exact / suffix, ports numeric (invalid dropped), one clause each for from and to', () => {
    expect(authz(t, 'shop/ns-allow')).toEqual({
      name: 'ns-allow',
      namespace: 'shop',
      scope: 'NAMESPACE',
      rules: [
        {
          clauses: [
            { matches: [{ destinationPorts: [9080] }] },
            {
              matches: [{ principals: [{ exact: 'cluster.local/ns/shop/sa/web' }, { suffix: '/sa/admin' }] }],
            },
          ],
        },
      ],
    });
  });

  it('selector → WORKLOAD_SELECTOR; prefix strings; bare service account takes the policy namespace', () => {
    expect(authz(t, 'shop/sel')).toMatchObject({
      scope: 'WORKLOAD_SELECTOR',
      action: 'DENY',
      rules: [
        {
          clauses: [
            {
              matches: [
                {
                  namespaces: [{ prefix: 'legacy' }],
                  serviceAccounts: [{ namespace: 'shop', serviceAccount: 'bot' }],
                },
              ],
            },
          ],
        },
      ],
    });
  });

  it('no selector in the root namespace → GLOBAL; IPs get /32', () => {
    // GLOBAL is scope 0, which proto3 JSON leaves out.
    expect(authz(t, 'istio-system/mesh')).not.toHaveProperty('scope');
    expect(authz(t, 'istio-system/mesh')).toMatchObject({
      rules: [
        {
          clauses: [
            {
              matches: [
                {
                  sourceIps: [
                    { address: 'wKgAAA==', length: 16 },
                    { address: 'CgECAw==', length: 32 },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
  });

  it('ALLOW with HTTP fields: the rule is dropped (stricter), with a warning', () => {
    expect(authz(t, 'shop/l7-allow')).toMatchObject({
      rules: [{ clauses: [{ matches: [{ namespaces: [{ exact: 'shop' }] }] }] }],
    });
    expect(t.warnings.join('\n')).toMatch(
      /AuthorizationPolicy\/shop\/l7-allow: rule 0: ztunnel does not support HTTP attributes \(found: to.operation.methods\)/,
    );
  });

  it('DENY with HTTP fields: L4 parts kept, a rule with nothing enforceable dropped', () => {
    expect(authz(t, 'shop/l7-deny')).toMatchObject({
      action: 'DENY',
      rules: [{ clauses: [{ matches: [{ destinationPorts: [8080] }] }] }],
    });
    expect((authz(t, 'shop/l7-deny') as { rules: unknown[] }).rules).toHaveLength(1);
  });

  it('CUSTOM is not sent and says why; targetRef policies are for waypoints, not ztunnel', () => {
    expect(authz(t, 'shop/custom')).toBeUndefined();
    expect(t.warnings.join('\n')).toContain('ztunnel does not support the CUSTOM action');
    expect(authz(t, 'shop/for-waypoint')).toBeUndefined();
  });

  it('when: supported keys become their own clauses, unsupported keys drop the ALLOW rule', () => {
    // The only rule is dropped: an ALLOW policy with no rules allows nothing (stricter).
    expect(authz(t, 'shop/when')).not.toHaveProperty('rules');
    expect(t.warnings.join('\n')).toContain('when.request.headers[x]');
  });

  it('dry-run annotation; ALLOW without rules allows nothing', () => {
    expect(authz(t, 'shop/dry')).toMatchObject({ dryRun: true, action: 'DENY', rules: [{}] });
    expect(authz(t, 'shop/nothing')).toEqual({ name: 'nothing', namespace: 'shop', scope: 'NAMESPACE' });
  });
});

describe('PeerAuthentication', () => {
  const pa = (name: string, namespace: string, mode: string, selector = '') =>
    `---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${namespace}}\nspec: {${selector}mtls: {mode: ${mode}}}\n`;
  it.each([
    ['namespace STRICT', pa('default', 'shop', 'STRICT'), true],
    ['mesh STRICT in the root namespace', pa('default', 'istio-system', 'STRICT'), true],
    [
      'mesh STRICT, namespace PERMISSIVE wins',
      pa('default', 'istio-system', 'STRICT') + pa('default', 'shop', 'PERMISSIVE'),
      false,
    ],
    [
      'namespace STRICT, workload PERMISSIVE wins',
      pa('default', 'shop', 'STRICT') +
        pa('w', 'shop', 'PERMISSIVE', 'selector: {matchLabels: {app: web}}, '),
      false,
    ],
    ['nothing: PERMISSIVE', '', false],
  ])('%s → static STRICT policy listed: %s', (_n, yaml, strict) => {
    const t = translate(
      objects(
        ns('shop', '{istio.io/dataplane-mode: ambient}') +
          pod('web', 'shop', '10.0.0.1', '{app: web}') +
          yaml,
      ),
    );
    expect(
      wl(t, 'Kubernetes//Pod/shop/web').authorizationPolicies.includes(
        'istio-system/istio_converted_static_strict',
      ),
    ).toBe(strict);
    expect(authz(t, 'istio-system/istio_converted_static_strict')).toMatchObject({
      action: 'DENY',
      rules: [{ clauses: [{ matches: [{ notPrincipals: [{ presence: {} }] }] }] }],
    });
  });
});

describe('waypoint binding (waypoint.md §3.3)', () => {
  const gw = (name: string, namespace: string, labels = '{}', from = 'Same') =>
    `---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: ${name}, namespace: ${namespace}, labels: ${labels}}\nspec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE, allowedRoutes: {namespaces: {from: ${from}}}}]}\n`;
  const service = (name: string, namespace: string, labels = '{}') =>
    `---\napiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: ${namespace}, labels: ${labels}}\nspec: {clusterIP: 10.96.1.1, selector: {app: ${name}}, ports: [{port: 80}]}\n`;
  const bound = (t: ReturnType<typeof translate>, key: string) => svc(t, key).waypoint?.hostname?.hostname;

  it.each([
    [
      'namespace label binds its services',
      ns('shop', '{istio.io/use-waypoint: waypoint}') + gw('waypoint', 'shop') + service('web', 'shop'),
      'waypoint.shop.svc.cluster.local',
    ],
    [
      'service label none opts out',
      ns('shop', '{istio.io/use-waypoint: waypoint}') +
        gw('waypoint', 'shop') +
        service('web', 'shop', '{istio.io/use-waypoint: none}'),
      undefined,
    ],
    [
      'service label binds alone',
      ns('shop') + gw('wp2', 'shop') + service('web', 'shop', '{istio.io/use-waypoint: wp2}'),
      'wp2.shop.svc.cluster.local',
    ],
    [
      'a workload-only waypoint does not take namespace-inherited service traffic',
      ns('shop', '{istio.io/use-waypoint: waypoint}') +
        gw('waypoint', 'shop', '{istio.io/waypoint-for: workload}') +
        service('web', 'shop'),
      undefined,
    ],
    [
      'cross-namespace needs allowedRoutes All',
      ns('shop') +
        ns('infra') +
        gw('wp', 'infra', '{}', 'All') +
        service('web', 'shop', '{istio.io/use-waypoint: wp, istio.io/use-waypoint-namespace: infra}'),
      'wp.infra.svc.cluster.local',
    ],
    [
      'cross-namespace refused by Same',
      ns('shop') +
        ns('infra') +
        gw('wp', 'infra') +
        service('web', 'shop', '{istio.io/use-waypoint: wp, istio.io/use-waypoint-namespace: infra}'),
      undefined,
    ],
    [
      'missing Gateway: nothing bound',
      ns('shop', '{istio.io/use-waypoint: ghost}') + service('web', 'shop'),
      undefined,
    ],
  ])('%s', (_n, yaml, expected) => {
    const t = translate(objects(yaml));
    expect(bound(t, 'shop/web.shop.svc.cluster.local')).toBe(expected);
  });

  it('reports bindings that cannot be honoured', () => {
    const t = translate(objects(ns('shop', '{istio.io/use-waypoint: ghost}') + service('web', 'shop')));
    expect(t.warnings).toContain(
      'Service/shop/web: waypoint shop/ghost does not exist (no Gateway with gatewayClassName istio-waypoint)',
    );
  });

  it('an explicit pod binding to a service-only waypoint is an error; the waypoint itself gets none', () => {
    const t = translate(
      objects(
        ns('shop', '{istio.io/dataplane-mode: ambient}') +
          gw('waypoint', 'shop') +
          pod('web', 'shop', '10.0.0.1', '{istio.io/use-waypoint: waypoint}') +
          pod(
            'waypoint-5d4f8b7c9-zzzzz',
            'shop',
            '10.0.0.9',
            '{gateway.networking.k8s.io/gateway-name: waypoint, istio.io/use-waypoint: waypoint}',
          ),
      ),
    );
    expect(t.warnings).toContain('Pod/shop/web: waypoint shop/waypoint is for service traffic, not workload');
    expect(wl(t, 'Kubernetes//Pod/shop/waypoint-5d4f8b7c9-zzzzz').waypoint).toBeNull();
  });
});
