// The LOCAL_XDS_PATH / LOCAL_XDS file — shared spec ztunnel.md §4: top-level `workloads`,
// `policies`, `services`, in ztunnel's internal camelCase shapes. As in ztunnel, unknown
// keys are rejected at the top level and in workloads, services and policies (so a typo is
// an error, not a silently ignored field), but ignored inside a policy's match objects.
// Every problem is reported with the entry and the field.

import { parseIp } from '@ambient/policy';
import { Authorization, type Init, type istio } from '@ambient/proto';
import { parseDocument } from 'yaml';
import { z } from 'zod';
import type { GatewayAddress, Service, Workload } from './types.js';

export class LocalConfigError extends Error {
  readonly code = 'LOCAL_CONFIG';
}

const ip = z.string().refine((s) => parseIp(s) !== undefined, { message: 'not an IP address' });
/** `"<network>/<ip>"` (network may be empty) or `"<namespace>/<hostname>"`. */
const gatewayAddress = z
  .object({ destination: z.string(), hboneMtlsPort: z.number().int().min(1).max(65535).default(15008) })
  .strict()
  .transform((g, ctx): GatewayAddress => {
    const i = g.destination.lastIndexOf('/');
    if (i < 0) {
      ctx.addIssue({
        code: 'custom',
        message: `destination "${g.destination}" must be "<network>/<ip>" or "<namespace>/<hostname>"`,
      });
      return z.NEVER;
    }
    const left = g.destination.slice(0, i);
    const right = g.destination.slice(i + 1);
    if (parseIp(right))
      return { destination: { kind: 'address', network: left, ip: right }, hboneMtlsPort: g.hboneMtlsPort };
    return {
      destination: { kind: 'hostname', namespace: left, hostname: right },
      hboneMtlsPort: g.hboneMtlsPort,
    };
  });
const portMap = z.record(
  z.string().regex(/^\d+$/, 'service port must be a number'),
  z.number().int().min(0).max(65535),
);

const workloadSchema = z
  .object({
    uid: z.string().optional(),
    name: z.string().min(1),
    namespace: z.string().min(1),
    workloadIps: z.array(ip),
    protocol: z.enum(['TCP', 'HBONE']).default('TCP'),
    networkMode: z.enum(['Standard', 'HostNetwork']).default('Standard'),
    trustDomain: z.string().default('cluster.local'),
    serviceAccount: z.string().default('default'),
    network: z.string().default(''),
    workloadName: z.string().default(''),
    workloadType: z.string().default('deployment'),
    canonicalName: z.string().default(''),
    canonicalRevision: z.string().default(''),
    hostname: z.string().default(''),
    node: z.string().default(''),
    nativeTunnel: z.boolean().default(false),
    applicationTunnel: z
      .object({ protocol: z.enum(['NONE', 'PROXY']), port: z.number().int().optional() })
      .strict()
      .optional(),
    authorizationPolicies: z.array(z.string()).default([]),
    status: z.enum(['Healthy', 'Unhealthy']).default('Healthy'),
    clusterId: z.string().default('Kubernetes'),
    locality: z
      .object({
        region: z.string().default(''),
        zone: z.string().default(''),
        subzone: z.string().default(''),
      })
      .strict()
      .optional(),
    capacity: z.number().int().min(0).default(1),
    waypoint: gatewayAddress.optional(),
    networkGateway: gatewayAddress.optional(),
    services: z.record(z.string(), portMap).default({}),
    // Ours (in-pod capture without a CNI agent): the pod's network namespace path.
    netns: z.string().optional(),
  })
  .strict();

const vip = z.string().transform((s, ctx) => {
  const i = s.lastIndexOf('/');
  const addr = i >= 0 ? s.slice(i + 1) : s;
  if (!parseIp(addr)) {
    ctx.addIssue({ code: 'custom', message: `vip "${s}" must be "<network>/<ip>"` });
    return z.NEVER;
  }
  return { network: i >= 0 ? s.slice(0, i) : '', ip: addr };
});

const serviceSchema = z
  .object({
    name: z.string().min(1),
    namespace: z.string().min(1),
    hostname: z.string().min(1),
    vips: z.array(vip).default([]),
    ports: portMap.default({}),
    subjectAltNames: z.array(z.string()).default([]),
    waypoint: gatewayAddress.optional(),
    loadBalancer: z
      .object({
        routingPreferences: z
          .array(z.enum(['Region', 'Zone', 'Subzone', 'Node', 'Cluster', 'Network']))
          .default([]),
        mode: z.enum(['Standard', 'Strict', 'Failover', 'Passthrough']).default('Standard'),
        healthPolicy: z.enum(['OnlyHealthy', 'AllowAll']).default('OnlyHealthy'),
      })
      .strict()
      .optional(),
    canonical: z.boolean().default(false),
    ipFamilies: z.string().optional(),
    cidrVips: z.array(z.string()).optional(),
    endpoints: z.unknown().optional(),
    weightedWaypoints: z.unknown().optional(),
    visibility: z.string().optional(),
  })
  .strict();

const stringMatch = z.union([
  z.object({ Exact: z.string() }).strict(),
  z.object({ Prefix: z.string() }).strict(),
  z.object({ Suffix: z.string() }).strict(),
  z.object({ Presence: z.unknown() }).strict(),
]);
const cidr = z.string().transform((s, ctx) => {
  const [addr, len] = s.split('/');
  const bytes = parseIp(addr ?? '');
  const max = bytes ? bytes.length * 8 : 0;
  const prefix = len === undefined ? max : Number(len);
  if (!bytes || !Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not an IP address or CIDR` });
    return z.NEVER;
  }
  return { address: bytes, length: prefix };
});
// Match objects ignore unknown keys (no deny_unknown_fields upstream).
const matchSchema = z.object({
  namespaces: z.array(stringMatch).default([]),
  notNamespaces: z.array(stringMatch).default([]),
  serviceAccounts: z.array(z.object({ namespace: z.string(), serviceAccount: z.string() })).default([]),
  notServiceAccounts: z.array(z.object({ namespace: z.string(), serviceAccount: z.string() })).default([]),
  principals: z.array(stringMatch).default([]),
  notPrincipals: z.array(stringMatch).default([]),
  sourceIps: z.array(cidr).default([]),
  notSourceIps: z.array(cidr).default([]),
  destinationIps: z.array(cidr).default([]),
  notDestinationIps: z.array(cidr).default([]),
  destinationPorts: z.array(z.number().int().min(0).max(65535)).default([]),
  notDestinationPorts: z.array(z.number().int().min(0).max(65535)).default([]),
});
// Every field of a policy is required, as in ztunnel — except `dryRun`, which older
// revisions of Istio's own examples/localhost.yaml omit: absent means false.
const policySchema = z
  .object({
    name: z.string().min(1),
    namespace: z.string(),
    scope: z.enum(['Global', 'Namespace', 'WorkloadSelector']),
    action: z.enum(['Allow', 'Deny']),
    rules: z.array(z.array(z.array(matchSchema))),
    dryRun: z.boolean().default(false),
  })
  .strict();

const fileSchema = z
  .object({
    workloads: z.array(workloadSchema).default([]),
    services: z.array(serviceSchema).default([]),
    policies: z.array(policySchema).default([]),
  })
  .strict();

export interface LocalConfig {
  workloads: Workload[];
  services: Service[];
  policies: istio.security.Authorization[];
  /** The file as written, for /config_dump's staticConfig. */
  raw: unknown;
}

function toStringMatch(m: z.infer<typeof stringMatch>): Init<istio.security.StringMatch> {
  if ('Exact' in m) return { exact: m.Exact };
  if ('Prefix' in m) return { prefix: m.Prefix };
  if ('Suffix' in m) return { suffix: m.Suffix };
  return { presence: {} };
}

export function parseLocalConfig(text: string, source: string): LocalConfig {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw new LocalConfigError(`${source}: invalid YAML: ${doc.errors[0]!.message}`);
  let raw: unknown;
  try {
    raw = doc.toJS() ?? {};
  } catch (err) {
    // An alias without its anchor (`*x`) is only reported when the document is built.
    throw new LocalConfigError(`${source}: invalid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new LocalConfigError(`${source}: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
  }
  const f = parsed.data;
  const workloads = f.workloads.map(({ uid, applicationTunnel, ...w }): Workload => {
    const out: Workload = {
      ...w,
      // ztunnel's default uid for local workloads: cluster//Pod/namespace/name.
      uid: uid ?? `${w.clusterId}//Pod/${w.namespace}/${w.name}`,
      ...(applicationTunnel
        ? {
            applicationTunnel: {
              protocol: applicationTunnel.protocol,
              ...(applicationTunnel.port !== undefined ? { port: applicationTunnel.port } : {}),
            },
          }
        : {}),
    } as Workload;
    if (!w.waypoint) delete out.waypoint;
    if (!w.networkGateway) delete out.networkGateway;
    if (!w.locality) delete out.locality;
    if (!w.netns) delete out.netns;
    return out;
  });
  const services = f.services.map(
    ({
      ipFamilies: _i,
      cidrVips: _c,
      endpoints: _e,
      weightedWaypoints: _w,
      visibility: _v,
      ...s
    }): Service => {
      const out = { ...s } as Service;
      if (!s.waypoint) delete out.waypoint;
      if (!s.loadBalancer) delete out.loadBalancer;
      return out;
    },
  );
  const policies = f.policies.map((p) =>
    Authorization.create({
      name: p.name,
      namespace: p.namespace,
      scope: { Global: 0, Namespace: 1, WorkloadSelector: 2 }[p.scope],
      action: p.action === 'Deny' ? 1 : 0,
      dryRun: p.dryRun,
      rules: p.rules.map((clauses) => ({
        clauses: clauses.map((matches) => ({
          matches: matches.map((m) => ({
            ...m,
            namespaces: m.namespaces.map(toStringMatch),
            notNamespaces: m.notNamespaces.map(toStringMatch),
            principals: m.principals.map(toStringMatch),
            notPrincipals: m.notPrincipals.map(toStringMatch),
          })),
        })),
      })),
    }),
  );
  return { workloads, services, policies, raw };
}
