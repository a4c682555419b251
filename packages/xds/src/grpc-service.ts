// The ADS gRPC service definition over our codecs. Servers write pre-encoded responses
// (bytes), so serialising a response is the identity: the resource cache encodes each
// resource once, not once per proxy.
import {
  DeltaDiscoveryRequest,
  DeltaDiscoveryResponse,
  DiscoveryRequest,
  DiscoveryResponse,
  type envoy,
  Methods,
} from '@ambient/proto';
import type { ServiceDefinition } from '@grpc/grpc-js';

export type DeltaRequest = envoy.service.discovery.v3.DeltaDiscoveryRequest;
export type DeltaResponse = envoy.service.discovery.v3.DeltaDiscoveryResponse;
export type SotwRequest = envoy.service.discovery.v3.DiscoveryRequest;
export type SotwResponse = envoy.service.discovery.v3.DiscoveryResponse;

const identity = (b: Buffer) => b;

export const adsServiceDefinition: ServiceDefinition = {
  DeltaAggregatedResources: {
    path: Methods.deltaAds,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: DeltaRequest) => Buffer.from(DeltaDiscoveryRequest.encode(m)),
    requestDeserialize: (b: Buffer) => DeltaDiscoveryRequest.decode(b),
    responseSerialize: identity,
    responseDeserialize: (b: Buffer) => DeltaDiscoveryResponse.decode(b),
    originalName: 'deltaAggregatedResources',
  },
  StreamAggregatedResources: {
    path: Methods.sotwAds,
    requestStream: true,
    responseStream: true,
    requestSerialize: (m: SotwRequest) => Buffer.from(DiscoveryRequest.encode(m)),
    requestDeserialize: (b: Buffer) => DiscoveryRequest.decode(b),
    responseSerialize: identity,
    responseDeserialize: (b: Buffer) => DiscoveryResponse.decode(b),
    originalName: 'streamAggregatedResources',
  },
};
