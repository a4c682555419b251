// deploy/ validated offline: every rendered manifest against the Kubernetes schemas
// (kubernetes-models), the shape the ztunnel DaemonSet needs (spec ztunnel.md §8), and —
// where kubectl is installed — the same objects as `kubectl kustomize`.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { type KubeObject, renderKustomization } from '../src/install/render.js';

const DEPLOY = fileURLToPath(new URL('../../../deploy', import.meta.url));
const objects = renderKustomization(DEPLOY);
const find = (kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name) as KubeObject & Record<string, any>;

async function modelFor(o: KubeObject): Promise<{ validate(): void } | undefined> {
  const slash = o.apiVersion.indexOf('/');
  const group = slash >= 0 ? o.apiVersion.slice(0, slash) : '';
  const version = slash >= 0 ? o.apiVersion.slice(slash + 1) : o.apiVersion;
  const base =
    group === ''
      ? `kubernetes-models/${version}`
      : `kubernetes-models/${group.replace('.k8s.io', '').replace('rbac.authorization', 'rbac.authorization.k8s.io')}/${version}`;
  const candidates = [`${base}/${o.kind}`, `kubernetes-models/${group}/${version}/${o.kind}`];
  for (const c of candidates) {
    try {
      const mod = (await import(c)) as Record<string, new (x: unknown) => { validate(): void }>;
      const Model = mod[o.kind];
      if (Model) return new Model(o);
    } catch {
      // try the next module path
    }
  }
  return undefined;
}

describe('deploy/ manifests', () => {
  it('render: every object lands in ambient-system (or is cluster-scoped)', () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        'ClusterRole/ambient-controller',
        'ClusterRoleBinding/ambient-controller',
        'DaemonSet/ztunnel',
        'Deployment/ambient-controller',
        'Namespace/ambient-system',
        'PersistentVolumeClaim/ambient-ca',
        'Role/ambient-controller',
        'RoleBinding/ambient-controller',
        'Service/ambient-controller',
        'ServiceAccount/ambient-controller',
        'ServiceAccount/ztunnel',
      ].sort(),
    );
    for (const o of objects)
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind))
        expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('ambient-system');
  });

  it.each(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o]))(
    '%s is valid against the Kubernetes schema',
    async (_name, o) => {
      const model = await modelFor(o as KubeObject);
      expect(model, `no schema for ${(o as KubeObject).apiVersion} ${(o as KubeObject).kind}`).toBeDefined();
      expect(() => model!.validate()).not.toThrow();
    },
  );

  it('the schema check catches a broken manifest (the test can fail)', async () => {
    const broken = structuredClone(find('DaemonSet', 'ztunnel'));
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'fifteen';
    const model = await modelFor(broken);
    expect(() => model!.validate()).toThrow(/containerPort/);
  });

  it('ztunnel DaemonSet: hostPID, the capabilities it uses, downward-API identity, node-critical, drain time', () => {
    const ds = find('DaemonSet', 'ztunnel');
    const pod = ds.spec.template.spec;
    const c = pod.containers[0];
    const env = Object.fromEntries(
      c.env.map((e: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }) => [
        e.name,
        e.value ?? e.valueFrom?.fieldRef.fieldPath,
      ]),
    );
    expect(pod.hostPID).toBe(true);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(c.securityContext.capabilities.add.sort()).toEqual(['NET_ADMIN', 'NET_RAW', 'SYS_ADMIN']);
    expect(env).toMatchObject({
      NODE_NAME: 'spec.nodeName',
      POD_NAME: 'metadata.name',
      POD_NAMESPACE: 'metadata.namespace',
      INSTANCE_IP: 'status.podIP',
      AMBIENT_CAPTURE: 'inpod',
      TERMINATION_GRACE_PERIOD_SECONDS: '30',
    });
    expect(
      pod.volumes.find((v: { name: string }) => v.name === 'istio-token').projected.sources[0]
        .serviceAccountToken.audience,
    ).toBe('istio-ca');
  });

  it('the controller watches Kubernetes and serves xDS + CA on 15012 under the names ztunnel dials', () => {
    const d = find('Deployment', 'ambient-controller');
    const env = Object.fromEntries(
      d.spec.template.spec.containers[0].env
        .filter((e: { value?: string }) => e.value !== undefined)
        .map((e: { name: string; value: string }) => [e.name, e.value]),
    );
    expect(env.AMBIENT_SOURCE).toBe('kube');
    expect(env.AMBIENT_SERVING_DNS.split(',')).toContain('ambient-controller.ambient-system.svc');
    const zt = find('DaemonSet', 'ztunnel').spec.template.spec.containers[0].env.find(
      (e: { name: string }) => e.name === 'XDS_ADDRESS',
    ).value;
    expect(zt).toBe('https://ambient-controller.ambient-system.svc:15012');
  });

  it('matches `kubectl kustomize` where kubectl is installed', () => {
    let rendered: string;
    try {
      rendered = execFileSync('kubectl', ['kustomize', DEPLOY], { encoding: 'utf8', timeout: 30_000 });
    } catch {
      console.warn(
        'kubectl not installed: cross-check with kubectl kustomize skipped (the schema checks above still ran)',
      );
      return;
    }
    const theirs = parseAllDocuments(rendered).map((d) => d.toJS() as KubeObject);
    const key = (o: KubeObject) => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    expect(theirs.map(key).sort()).toEqual(objects.map(key).sort());
  });

  describe('the waypoint the controller deploys for an istio-waypoint Gateway', async () => {
    const { loadYaml } = await import('@ambient/model');
    const { renderWaypoint } = await import('@ambient/controller/waypoint-deployment');
    const gw = loadYaml(
      'apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: waypoint, namespace: shop, uid: "1234"}\nspec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}\n',
      'gw.yaml',
    ).objects[0] as never;
    const rendered = renderWaypoint(gw, 'PEM', {
      image: 'ambient:dev',
      controllerAddress: 'https://ambient-controller.ambient-system.svc:15012',
      rootCertConfigMap: 'ambient-ca-root-cert',
      trustDomain: 'cluster.local',
      clusterId: 'Kubernetes',
    }) as (KubeObject & Record<string, any>)[];

    it.each(rendered.map((o) => [`${o.kind}/${o.metadata.name}`, o]))(
      '%s is valid against the Kubernetes schema',
      async (_n, o) => {
        const model = await modelFor(o as KubeObject);
        expect(model).toBeDefined();
        expect(() => model!.validate()).not.toThrow();
      },
    );

    it('is what istiod creates: never captured, owned by the Gateway, HBONE on the Service, env the waypoint reads', () => {
      const d = rendered.find((o) => o.kind === 'Deployment')!;
      const pod = d.spec.template;
      expect(pod.metadata.labels).toMatchObject({
        'gateway.networking.k8s.io/gateway-name': 'waypoint',
        'istio.io/dataplane-mode': 'none',
      });
      expect((d.metadata.ownerReferences as object[])[0]).toMatchObject({
        kind: 'Gateway',
        name: 'waypoint',
        uid: '1234',
      });
      const env = Object.fromEntries(
        pod.spec.containers[0].env.map(
          (e: { name: string; value?: string; valueFrom?: { fieldRef: { fieldPath: string } } }) => [
            e.name,
            e.value ?? e.valueFrom?.fieldRef.fieldPath,
          ],
        ),
      );
      expect(env).toMatchObject({
        GATEWAY_NAME: 'waypoint',
        POD_NAMESPACE: 'metadata.namespace',
        SERVICE_ACCOUNT: 'spec.serviceAccountName',
      });
      expect(pod.spec.containers[0].args).toEqual(['waypoint']);
      const svc = rendered.find((o) => o.kind === 'Service')!;
      expect(svc.spec.ports).toContainEqual(expect.objectContaining({ name: 'mesh', port: 15008 }));
      expect(rendered.find((o) => o.kind === 'ConfigMap')!.data['root-cert.pem']).toBe('PEM');
    });
  });

  describe('the kind scenarios (e2e/kind) use manifests that validate offline', async () => {
    const { readdirSync, readFileSync } = await import('node:fs');
    const { loadYaml } = await import('@ambient/model');
    const dir = fileURLToPath(new URL('../../../e2e/kind', import.meta.url));
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    const docs = files.flatMap((f) =>
      parseAllDocuments(readFileSync(`${dir}/${f}`, 'utf8')).map((d) => [f, d.toJS() as KubeObject] as const),
    );

    it.each(
      docs
        .filter(([, o]) => !o.apiVersion.includes('istio.io'))
        .map(([f, o]) => [`${f}: ${o.kind}/${o.metadata.name}`, o]),
    )('%s is valid against the Kubernetes schema', async (_n, o) => {
      const model = await modelFor(o as KubeObject);
      expect(model).toBeDefined();
      expect(() => model!.validate()).not.toThrow();
    });

    it.each(files)('%s loads without errors as the controller reads it', (f) => {
      expect(loadYaml(readFileSync(`${dir}/${f}`, 'utf8'), f).errors).toEqual([]);
    });
  });
});
