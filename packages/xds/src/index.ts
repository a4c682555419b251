// @ambient/xds — the ADS client and server (Delta and State of the World) on @grpc/grpc-js.
export { Backoff, type BackoffOptions } from './backoff.js';
export {
  type ResourceState,
  type ResourceStatus,
  type TypeWatcher,
  XdsClient,
  type XdsClientOptions,
} from './client/xds-client.js';
export { XdsError } from './errors.js';
export { loadResourceFile, parseResourceDocuments } from './file-source.js';
export { adsServiceDefinition } from './grpc-service.js';
export { addressName, authorizationName, istioTypes } from './istio-types.js';
export { type ResourceType, resourceType } from './resource-type.js';
export { type CacheChange, type CachedResource, ResourceCache } from './server/resource-cache.js';
export {
  type ConnectionStatus,
  type NackRecord,
  type ProxyInfo,
  type TypeStatus,
  XDS_LIMITS,
  XdsAuthError,
  type XdsCaller,
  XdsServer,
  type XdsServerOptions,
} from './server/xds-server.js';
