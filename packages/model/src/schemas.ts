// The fields of Kubernetes, Istio and Gateway API objects the mesh uses. Unknown fields are
// tolerated (dropped), so any YAML from Istio's documentation loads; fields we use are
// checked, and a bad one is reported with its path.
import { z } from 'zod';

const labels = z.record(z.string(), z.string()).default({});
export const metadata = z.object({
  name: z.string().min(1),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  labels,
  annotations: labels,
});

const obj = <K extends string, S extends z.ZodType>(kind: K, spec: S) =>
  z.object({ apiVersion: z.string(), kind: z.literal(kind), metadata, spec });

export const Namespace = z.object({ apiVersion: z.string(), kind: z.literal('Namespace'), metadata });

const intOrString = z.union([z.number().int().min(0).max(65535), z.string().min(1)]);

export const Pod = z.object({
  apiVersion: z.string(),
  kind: z.literal('Pod'),
  metadata,
  spec: z
    .object({
      nodeName: z.string().optional(),
      serviceAccountName: z.string().optional(),
      hostNetwork: z.boolean().optional(),
      containers: z
        .array(
          z.object({
            name: z.string(),
            ports: z
              .array(z.object({ name: z.string().optional(), containerPort: z.number().int() }))
              .default([]),
          }),
        )
        .default([]),
    })
    .default({ containers: [] }),
  status: z
    .object({
      phase: z.string().optional(),
      podIP: z.string().optional(),
      podIPs: z.array(z.object({ ip: z.string() })).optional(),
      conditions: z.array(z.object({ type: z.string(), status: z.string() })).optional(),
    })
    .default({}),
});

export const Service = obj(
  'Service',
  z.object({
    type: z.string().optional(),
    clusterIP: z.string().optional(),
    clusterIPs: z.array(z.string()).optional(),
    selector: z.record(z.string(), z.string()).optional(),
    ports: z
      .array(
        z.object({
          name: z.string().optional(),
          port: z.number().int().min(1).max(65535),
          targetPort: intOrString.optional(),
          protocol: z.string().optional(),
          appProtocol: z.string().optional(),
        }),
      )
      .default([]),
  }),
);

export const ServiceAccount = z.object({
  apiVersion: z.string(),
  kind: z.literal('ServiceAccount'),
  metadata,
});

const selector = z.object({ matchLabels: z.record(z.string(), z.string()).default({}) }).optional();
const targetRef = z.object({
  group: z.string().optional(),
  kind: z.string(),
  name: z.string(),
  namespace: z.string().optional(),
});
const strs = z.array(z.string()).optional();

/** discovery.k8s.io/v1 — endpoints of Services without a selector (no `spec`: fields are top-level). */
export const EndpointSlice = z.object({
  apiVersion: z.string(),
  kind: z.literal('EndpointSlice'),
  metadata,
  addressType: z.string().default('IPv4'),
  endpoints: z
    .array(
      z.object({
        addresses: z.array(z.string()).default([]),
        conditions: z.object({ ready: z.boolean().optional() }).default({}),
        nodeName: z.string().optional(),
        targetRef: z
          .object({ kind: z.string(), name: z.string(), namespace: z.string().optional() })
          .optional(),
      }),
    )
    .default([]),
  ports: z
    .array(
      z.object({
        name: z.string().optional(),
        port: z.number().int().optional(),
        protocol: z.string().optional(),
      }),
    )
    .default([]),
});

export const AuthorizationPolicy = obj(
  'AuthorizationPolicy',
  z
    .object({
      selector,
      targetRef: targetRef.optional(),
      targetRefs: z.array(targetRef).optional(),
      action: z.enum(['ALLOW', 'DENY', 'AUDIT', 'CUSTOM']).default('ALLOW'),
      provider: z.object({ name: z.string() }).optional(),
      rules: z
        .array(
          z.object({
            from: z
              .array(
                z.object({
                  source: z.object({
                    principals: strs,
                    notPrincipals: strs,
                    requestPrincipals: strs,
                    notRequestPrincipals: strs,
                    namespaces: strs,
                    notNamespaces: strs,
                    serviceAccounts: strs,
                    notServiceAccounts: strs,
                    ipBlocks: strs,
                    notIpBlocks: strs,
                    remoteIpBlocks: strs,
                    notRemoteIpBlocks: strs,
                  }),
                }),
              )
              .optional(),
            to: z
              .array(
                z.object({
                  operation: z.object({
                    hosts: strs,
                    notHosts: strs,
                    ports: strs,
                    notPorts: strs,
                    methods: strs,
                    notMethods: strs,
                    paths: strs,
                    notPaths: strs,
                  }),
                }),
              )
              .optional(),
            when: z.array(z.object({ key: z.string(), values: strs, notValues: strs })).optional(),
          }),
        )
        .optional(),
    })
    .default({ action: 'ALLOW' }),
);

const mtlsMode = z.enum(['UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT']);
export const PeerAuthentication = obj(
  'PeerAuthentication',
  z
    .object({
      selector,
      mtls: z.object({ mode: mtlsMode.default('UNSET') }).optional(),
      portLevelMtls: z.record(z.string(), z.object({ mode: mtlsMode })).optional(),
    })
    .default({}),
);

// Kinds the waypoint consumes; their L7 detail is checked by the waypoint translation.
const loose = z.record(z.string(), z.unknown()).default({});
export const RequestAuthentication = obj('RequestAuthentication', loose);
export const VirtualService = obj('VirtualService', loose);
export const DestinationRule = obj('DestinationRule', loose);
export const HTTPRoute = obj('HTTPRoute', loose);

export const Gateway = obj(
  'Gateway',
  z.object({
    gatewayClassName: z.string(),
    listeners: z
      .array(
        z.object({
          name: z.string(),
          port: z.number().int(),
          protocol: z.string(),
          allowedRoutes: z
            .object({
              namespaces: z
                .object({ from: z.enum(['All', 'Same', 'Selector']).default('Same'), selector })
                .optional(),
            })
            .optional(),
        }),
      )
      .default([]),
  }),
);

export const SCHEMAS = {
  Namespace,
  Pod,
  Service,
  EndpointSlice,
  ServiceAccount,
  AuthorizationPolicy,
  PeerAuthentication,
  RequestAuthentication,
  VirtualService,
  DestinationRule,
  Gateway,
  HTTPRoute,
} as const;

export type Kind = keyof typeof SCHEMAS;
export type ObjectOf<K extends Kind> = z.infer<(typeof SCHEMAS)[K]>;
export type AnyObject = { [K in Kind]: ObjectOf<K> }[Kind];
export const KINDS = Object.keys(SCHEMAS) as Kind[];
/** Kinds that live in a namespace (all but Namespace). */
export const NAMESPACED = new Set<Kind>(KINDS.filter((k) => k !== 'Namespace'));
