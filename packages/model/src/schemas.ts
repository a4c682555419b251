// The fields of Kubernetes, Istio and Gateway API objects the mesh uses. Unknown fields are
// tolerated (dropped), so any YAML from Istio's documentation loads; fields we use are
// checked, and a bad one is reported with its path.
import { z } from 'zod';

const labels = z.record(z.string(), z.string()).default({});
export const metadata = z.object({
  name: z.string().min(1),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  creationTimestamp: z.string().optional(),
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

// ---- Kinds the waypoint consumes (shared spec waypoint.md §1–§3, §5.2). Semantics that
// span fields (one action per rule, weights, subsets that exist) are checked by the
// controller's waypoint translation, which names the object and the field.

/** Go / protobuf duration: `1s`, `0.5s`, `100ms`, `3m`, `1h30m`. */
export const duration = z
  .string()
  .regex(/^(\d+(\.\d+)?(h|m|s|ms|us|µs|ns))+$/, 'must be a duration such as 1s, 0.5s, 100ms or 3m');

/** Milliseconds of a duration accepted by `duration`. */
export function durationMs(d: string): number {
  let ms = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)) {
    const n = Number(m[1]);
    const unit = m[2];
    ms +=
      unit === 'h'
        ? n * 3_600_000
        : unit === 'm'
          ? n * 60_000
          : unit === 's'
            ? n * 1000
            : unit === 'ms'
              ? n
              : unit === 'ns'
                ? n / 1e6
                : n / 1000;
  }
  return ms;
}

const stringMatch = z
  .object({ exact: z.string().optional(), prefix: z.string().optional(), regex: z.string().optional() })
  .refine((m) => [m.exact, m.prefix, m.regex].filter((v) => v !== undefined).length <= 1, {
    message: 'exactly one of exact, prefix or regex',
  });
export type StringMatch = z.infer<typeof stringMatch>;
const percent = z.object({ value: z.number().min(0).max(100) });
const headerOps = z.object({
  set: z.record(z.string(), z.string()).optional(),
  add: z.record(z.string(), z.string()).optional(),
  remove: z.array(z.string()).optional(),
});
const headers = z.object({ request: headerOps.optional(), response: headerOps.optional() });
const portSelector = z.object({ number: z.number().int().min(1).max(65535) });
const destination = z.object({
  host: z.string().min(1),
  subset: z.string().optional(),
  port: portSelector.optional(),
});

export const VirtualService = obj(
  'VirtualService',
  z.object({
    hosts: z.array(z.string()).min(1),
    gateways: strs,
    exportTo: strs,
    http: z
      .array(
        z.object({
          name: z.string().optional(),
          match: z
            .array(
              z.object({
                name: z.string().optional(),
                uri: stringMatch.optional(),
                scheme: stringMatch.optional(),
                method: stringMatch.optional(),
                authority: stringMatch.optional(),
                headers: z.record(z.string(), stringMatch).optional(),
                withoutHeaders: z.record(z.string(), stringMatch).optional(),
                queryParams: z.record(z.string(), stringMatch).optional(),
                ignoreUriCase: z.boolean().optional(),
                port: z.number().int().min(1).max(65535).optional(),
                sourceLabels: z.record(z.string(), z.string()).optional(),
                sourceNamespace: z.string().optional(),
                gateways: strs,
              }),
            )
            .optional(),
          route: z
            .array(
              z.object({
                destination,
                weight: z.number().int().min(0).optional(),
                headers: headers.optional(),
              }),
            )
            .optional(),
          redirect: z
            .object({
              uri: z.string().optional(),
              authority: z.string().optional(),
              port: z.number().int().min(1).max(65535).optional(),
              derivePort: z.enum(['FROM_PROTOCOL_DEFAULT', 'FROM_REQUEST_PORT']).optional(),
              scheme: z.string().optional(),
              redirectCode: z.number().int().optional(),
            })
            .optional(),
          directResponse: z
            .object({
              status: z.number().int().min(200).max(599),
              body: z.object({ string: z.string().optional(), bytes: z.string().optional() }).optional(),
            })
            .optional(),
          delegate: z.object({ name: z.string(), namespace: z.string().optional() }).optional(),
          rewrite: z
            .object({
              uri: z.string().optional(),
              authority: z.string().optional(),
              uriRegexRewrite: z.object({ match: z.string(), rewrite: z.string() }).optional(),
            })
            .optional(),
          timeout: duration.optional(),
          retries: z
            .object({
              attempts: z.number().int().min(0).optional(),
              perTryTimeout: duration.optional(),
              retryOn: z.string().optional(),
              retryRemoteLocalities: z.boolean().optional(),
            })
            .optional(),
          fault: z
            .object({
              delay: z
                .object({
                  fixedDelay: duration.optional(),
                  exponentialDelay: duration.optional(),
                  percentage: percent.optional(),
                  percent: z.number().int().min(0).max(100).optional(),
                })
                .optional(),
              abort: z
                .object({
                  httpStatus: z.number().int().min(200).max(599).optional(),
                  grpcStatus: z.string().optional(),
                  http2Error: z.string().optional(),
                  percentage: percent.optional(),
                })
                .optional(),
            })
            .optional(),
          mirror: destination.optional(),
          mirrorPercentage: percent.optional(),
          mirrors: z.array(z.object({ destination, percentage: percent.optional() })).optional(),
          corsPolicy: z
            .object({
              allowOrigins: z.array(stringMatch).optional(),
              allowOrigin: strs,
              allowMethods: strs,
              allowHeaders: strs,
              exposeHeaders: strs,
              maxAge: duration.optional(),
              allowCredentials: z.boolean().optional(),
              unmatchedPreflights: z.enum(['UNSPECIFIED', 'FORWARD', 'IGNORE']).optional(),
            })
            .optional(),
          headers: headers.optional(),
        }),
      )
      .optional(),
    tcp: z.array(z.unknown()).optional(),
    tls: z.array(z.unknown()).optional(),
  }),
);

const simpleLb = z.enum([
  'UNSPECIFIED',
  'LEAST_CONN',
  'RANDOM',
  'PASSTHROUGH',
  'ROUND_ROBIN',
  'LEAST_REQUEST',
]);
const trafficPolicyBase = z.object({
  loadBalancer: z
    .object({
      simple: simpleLb.optional(),
      consistentHash: z
        .object({
          httpHeaderName: z.string().optional(),
          httpCookie: z
            .object({ name: z.string(), path: z.string().optional(), ttl: duration.optional() })
            .optional(),
          useSourceIp: z.boolean().optional(),
          httpQueryParameterName: z.string().optional(),
          ringHash: z.object({ minimumRingSize: z.number().int().optional() }).optional(),
          maglev: z.object({ tableSize: z.number().int().optional() }).optional(),
          minimumRingSize: z.number().int().optional(),
        })
        .optional(),
      localityLbSetting: z.unknown().optional(),
      warmupDurationSecs: duration.optional(),
    })
    .optional(),
  connectionPool: z
    .object({
      tcp: z
        .object({
          maxConnections: z.number().int().min(0).optional(),
          connectTimeout: duration.optional(),
          maxConnectionDuration: duration.optional(),
          idleTimeout: duration.optional(),
          tcpKeepalive: z.unknown().optional(),
        })
        .optional(),
      http: z
        .object({
          http1MaxPendingRequests: z.number().int().min(0).optional(),
          http2MaxRequests: z.number().int().min(0).optional(),
          maxRequestsPerConnection: z.number().int().min(0).optional(),
          maxRetries: z.number().int().min(0).optional(),
          idleTimeout: duration.optional(),
          h2UpgradePolicy: z.string().optional(),
          useClientProtocol: z.boolean().optional(),
          maxConcurrentStreams: z.number().int().optional(),
        })
        .optional(),
    })
    .optional(),
  outlierDetection: z
    .object({
      consecutiveErrors: z.number().int().optional(),
      consecutive5xxErrors: z.number().int().min(0).optional(),
      consecutiveGatewayErrors: z.number().int().min(0).optional(),
      splitExternalLocalOriginErrors: z.boolean().optional(),
      consecutiveLocalOriginFailures: z.number().int().min(0).optional(),
      interval: duration.optional(),
      baseEjectionTime: duration.optional(),
      maxEjectionPercent: z.number().int().min(0).max(100).optional(),
      minHealthPercent: z.number().int().min(0).max(100).optional(),
    })
    .optional(),
  tls: z.object({ mode: z.string().optional() }).optional(),
});
const trafficPolicy = trafficPolicyBase.extend({
  portLevelSettings: z.array(trafficPolicyBase.extend({ port: portSelector.optional() })).optional(),
});
export type TrafficPolicy = z.infer<typeof trafficPolicy>;

export const DestinationRule = obj(
  'DestinationRule',
  z.object({
    host: z.string().min(1),
    trafficPolicy: trafficPolicy.optional(),
    subsets: z
      .array(
        z.object({
          name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label'),
          labels: z.record(z.string(), z.string()).default({}),
          trafficPolicy: trafficPolicy.optional(),
        }),
      )
      .optional(),
    exportTo: strs,
    workloadSelector: selector,
  }),
);

/** Gateway API's reference to an object (a parent Gateway or Service, a backend Service). */
const gwObjectRef = z.object({
  group: z.string().optional(),
  kind: z.string().optional(),
  name: z.string(),
  namespace: z.string().optional(),
  port: z.number().int().optional(),
});
const gwHeaderMatch = z.object({
  type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
  name: z.string().min(1),
  value: z.string(),
});
const gwHeaderModifier = z.object({
  set: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
  add: z.array(z.object({ name: z.string(), value: z.string() })).optional(),
  remove: z.array(z.string()).optional(),
});
const gwPathModifier = z.object({
  type: z.enum(['ReplaceFullPath', 'ReplacePrefixMatch']),
  replaceFullPath: z.string().optional(),
  replacePrefixMatch: z.string().optional(),
});
const gwFilter = z.object({
  type: z.string(),
  requestHeaderModifier: gwHeaderModifier.optional(),
  responseHeaderModifier: gwHeaderModifier.optional(),
  requestRedirect: z
    .object({
      scheme: z.string().optional(),
      hostname: z.string().optional(),
      path: gwPathModifier.optional(),
      port: z.number().int().optional(),
      statusCode: z.number().int().default(302),
    })
    .optional(),
  urlRewrite: z
    .object({
      hostname: z.string().optional(),
      path: gwPathModifier.optional(),
    })
    .optional(),
  requestMirror: z
    .object({
      backendRef: z.object({
        name: z.string(),
        namespace: z.string().optional(),
        port: z.number().int().optional(),
      }),
      percent: z.number().int().min(0).max(100).optional(),
      fraction: z
        .object({ numerator: z.number().int(), denominator: z.number().int().default(100) })
        .optional(),
    })
    .optional(),
});
export const HTTPRoute = obj(
  'HTTPRoute',
  z.object({
    parentRefs: z.array(gwObjectRef.extend({ sectionName: z.string().optional() })).default([]),
    hostnames: strs,
    rules: z
      .array(
        z.object({
          name: z.string().optional(),
          matches: z
            .array(
              z.object({
                path: z
                  .object({
                    type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).default('PathPrefix'),
                    value: z.string().default('/'),
                  })
                  .optional(),
                headers: z.array(gwHeaderMatch).optional(),
                queryParams: z.array(gwHeaderMatch).optional(),
                method: z.string().optional(),
              }),
            )
            .optional(),
          filters: z.array(gwFilter).optional(),
          backendRefs: z
            .array(
              gwObjectRef.extend({
                weight: z.number().int().min(0).default(1),
                filters: z.array(gwFilter).optional(),
              }),
            )
            .optional(),
          timeouts: z
            .object({ request: duration.optional(), backendRequest: duration.optional() })
            .optional(),
          retry: z
            .object({
              codes: z.array(z.number().int()).optional(),
              attempts: z.number().int().min(0).optional(),
              backoff: duration.optional(),
            })
            .optional(),
        }),
      )
      .default([]),
  }),
);

export const RequestAuthentication = obj(
  'RequestAuthentication',
  z
    .object({
      selector,
      targetRef: targetRef.optional(),
      targetRefs: z.array(targetRef).optional(),
      jwtRules: z
        .array(
          z.object({
            issuer: z.string().min(1),
            audiences: strs,
            jwksUri: z.string().optional(),
            jwks: z.string().optional(),
            fromHeaders: z.array(z.object({ name: z.string(), prefix: z.string().optional() })).optional(),
            fromParams: strs,
            fromCookies: strs,
            outputPayloadToHeader: z.string().optional(),
            forwardOriginalToken: z.boolean().optional(),
            outputClaimToHeaders: z.array(z.object({ header: z.string(), claim: z.string() })).optional(),
            timeout: duration.optional(),
          }),
        )
        .default([]),
    })
    .default({ jwtRules: [] }),
);

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
