// deploy/controller-rbac.yaml must let the controller list and watch every kind its
// informers follow, and create TokenReviews for the CA.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { KUBE_KINDS } from './kube.js';

const file = fileURLToPath(new URL('../../../../deploy/controller-rbac.yaml', import.meta.url));
const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS());
const role = docs.find((d) => d.kind === 'ClusterRole') as {
  rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[];
};

const allowed = (group: string, resource: string, verb: string) =>
  role.rules.some(
    (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
  );

describe('controller RBAC', () => {
  it.each(KUBE_KINDS.map((k) => [k.kind, k.group ?? '', k.plural]))(
    '%s (%s/%s): list and watch',
    (_kind, group, plural) => {
      expect(allowed(group, plural, 'list')).toBe(true);
      expect(allowed(group, plural, 'watch')).toBe(true);
    },
  );

  it('can create TokenReviews', () => {
    expect(allowed('authentication.k8s.io', 'tokenreviews', 'create')).toBe(true);
  });

  it('binds the role to the controller service account', () => {
    const binding = docs.find((d) => d.kind === 'ClusterRoleBinding');
    expect(binding.subjects).toContainEqual({
      kind: 'ServiceAccount',
      name: 'ambient-controller',
      namespace: 'ambient-system',
    });
  });
});
