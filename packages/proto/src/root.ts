// The reflection root of every message we speak, built once from the generated descriptor.
import protobuf from 'protobufjs';
import descriptor from './gen/descriptor.json' with { type: 'json' };

// 64-bit integers decode as JS numbers, not Long objects: the only 64-bit fields we read
// (CA validity seconds, durations) are far below 2^53. protobufjs reads this setting when
// it compiles a type's codec, so it is set before the root is built.
(protobuf.util as { Long: unknown }).Long = undefined;
protobuf.configure();

export const root: protobuf.Root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);
root.resolveAll();

export function lookupType(fullName: string): protobuf.Type {
  return root.lookupType(fullName.replace(/^\./, ''));
}

export { protobuf };
