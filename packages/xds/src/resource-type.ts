// A registry entry per xDS resource type: how to decode it and how to validate it. A
// resource that fails either is NACKed by name while the rest of the response applies
// (grpc-js-xds's pattern, shared spec ztunnel.md §3.1).
import type { Codec } from '@ambient/proto';

export interface ResourceType<T> {
  readonly typeUrl: string;
  readonly codec: Codec<T>;
  /** Returns a reason when the decoded resource is unusable; undefined when it is fine. */
  validate?(resource: T, name: string): string | undefined;
  /** The resource's name from its content: State of the World responses carry no names. */
  nameOf?(resource: T): string;
}

export function resourceType<T>(
  codec: Codec<T>,
  opts: { validate?: ResourceType<T>['validate']; nameOf?: ResourceType<T>['nameOf'] } = {},
): ResourceType<T> {
  return { typeUrl: codec.typeUrl, codec, ...opts };
}
