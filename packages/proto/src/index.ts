// @ambient/proto — Istio's and Envoy's messages, wire-compatible, with typed codecs.

export * from './codec.js';
export * from './gen/types.js';
export {
  fromProto3Json,
  ProtoJsonError,
  structFromPlain,
  structToPlain,
  toProto3Json,
  typeNameOf,
  typeUrlOf,
} from './json.js';
export { lookupType, protobuf, root } from './root.js';
