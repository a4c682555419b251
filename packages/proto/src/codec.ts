// Typed codecs over the reflection root: encode/decode to the wire, and proto3 JSON.
import type protobuf from 'protobufjs';
import type { ambient, envoy, istio } from './gen/types.js';
import { fromProto3Json, toProto3Json, typeUrlOf } from './json.js';
import { lookupType } from './root.js';

/** Input shape for building a message: every field optional, recursively. */
export type Init<T> = T extends Uint8Array
  ? Uint8Array
  : T extends (infer U)[]
    ? Init<U>[]
    : T extends object
      ? { [K in keyof T]?: Init<T[K]> | null }
      : T;

export class ProtoDecodeError extends Error {
  readonly code = 'PROTO_DECODE';
}

export interface Codec<T> {
  readonly typeName: string;
  readonly typeUrl: string;
  readonly type: protobuf.Type;
  encode(message: Init<T>): Uint8Array;
  /** Decodes wire bytes; unknown fields are skipped. Throws ProtoDecodeError on malformed bytes. */
  decode(bytes: Uint8Array): T;
  toJson(message: T | Init<T>): unknown;
  fromJson(json: unknown): T;
  /** Builds a message from a plain object (enums by name or number, bytes as Uint8Array or base64). */
  create(init: Init<T>): T;
}

export function codec<T>(typeName: string): Codec<T> {
  const type = lookupType(typeName);
  return {
    typeName,
    typeUrl: typeUrlOf(typeName),
    type,
    encode: (message) => type.encode(type.fromObject(message as Record<string, unknown>)).finish(),
    decode: (bytes) => {
      try {
        return type.decode(bytes) as unknown as T;
      } catch (err) {
        throw new ProtoDecodeError(`cannot decode ${typeName}: ${(err as Error).message}`, { cause: err });
      }
    },
    toJson: (message) => toProto3Json(type, message),
    fromJson: (json) => fromProto3Json(type, json) as unknown as T,
    create: (init) => type.fromObject(init as Record<string, unknown>) as unknown as T,
  };
}

// The messages the mesh speaks, by role.
export const Address = codec<istio.workload.Address>('istio.workload.Address');
export const Workload = codec<istio.workload.Workload>('istio.workload.Workload');
export const Service = codec<istio.workload.Service>('istio.workload.Service');
export const Authorization = codec<istio.security.Authorization>('istio.security.Authorization');
export const IstioCertificateRequest = codec<istio.v1.auth.IstioCertificateRequest>(
  'istio.v1.auth.IstioCertificateRequest',
);
export const IstioCertificateResponse = codec<istio.v1.auth.IstioCertificateResponse>(
  'istio.v1.auth.IstioCertificateResponse',
);
export const DiscoveryRequest = codec<envoy.service.discovery.v3.DiscoveryRequest>(
  'envoy.service.discovery.v3.DiscoveryRequest',
);
export const DiscoveryResponse = codec<envoy.service.discovery.v3.DiscoveryResponse>(
  'envoy.service.discovery.v3.DiscoveryResponse',
);
export const DeltaDiscoveryRequest = codec<envoy.service.discovery.v3.DeltaDiscoveryRequest>(
  'envoy.service.discovery.v3.DeltaDiscoveryRequest',
);
export const DeltaDiscoveryResponse = codec<envoy.service.discovery.v3.DeltaDiscoveryResponse>(
  'envoy.service.discovery.v3.DeltaDiscoveryResponse',
);
// What a waypoint receives besides Address: Envoy's route, cluster and endpoint resources,
// Envoy's fault filter config (per route), and ours for L7 security policies.
export const RouteConfiguration = codec<envoy.config.route.v3.RouteConfiguration>(
  'envoy.config.route.v3.RouteConfiguration',
);
export const Cluster = codec<envoy.config.cluster.v3.Cluster>('envoy.config.cluster.v3.Cluster');
export const ClusterLoadAssignment = codec<envoy.config.endpoint.v3.ClusterLoadAssignment>(
  'envoy.config.endpoint.v3.ClusterLoadAssignment',
);
export const HTTPFault = codec<envoy.extensions.filters.http.fault.v3.HTTPFault>(
  'envoy.extensions.filters.http.fault.v3.HTTPFault',
);
export const WaypointPolicy = codec<ambient.security.v1.WaypointPolicy>('ambient.security.v1.WaypointPolicy');

/** Type URLs of the xDS resources ztunnel (Address, Authorization) and waypoints subscribe to. */
export const TypeUrl = {
  Address: 'type.googleapis.com/istio.workload.Address',
  Authorization: 'type.googleapis.com/istio.security.Authorization',
  RouteConfiguration: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  Cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  ClusterLoadAssignment: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  WaypointPolicy: 'type.googleapis.com/ambient.security.v1.WaypointPolicy',
} as const;

/** gRPC method paths (shared spec ztunnel.md §2.3, §3.1). */
export const Methods = {
  deltaAds: '/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources',
  sotwAds: '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources',
  createCertificate: '/istio.v1.auth.IstioCertificateService/CreateCertificate',
} as const;
