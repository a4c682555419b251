// What the xDS server serves: per type URL, named resources, each encoded ONCE as an
// envoy `Resource` (name, version, Any) ready to be spliced into any response.
//
// Versions are a hash of the resource bytes, so they are stable across controller
// restarts: a ztunnel that reconnects with `initial_resource_versions` is resent only what
// really changed (shared spec ztunnel.md §3.1). Setting identical bytes is not a change.
import { createHash } from 'node:crypto';
import { type Codec, type Init, protobuf } from '@ambient/proto';

export interface CachedResource {
  name: string;
  version: string;
  /** The resource as an encoded envoy.service.discovery.v3.Resource (Delta). */
  deltaBytes: Uint8Array;
  /** The resource as an encoded google.protobuf.Any (SotW). */
  anyBytes: Uint8Array;
}

export interface CacheChange {
  typeUrl: string;
  /** Names added, updated or removed. */
  names: string[];
}

type Listener = (change: CacheChange) => void;

export class ResourceCache {
  private readonly types = new Map<string, Map<string, CachedResource>>();
  private readonly listeners = new Set<Listener>();

  /** Adds or replaces one resource; returns false (and notifies nobody) when nothing changed. */
  set<T>(codec: Codec<T>, name: string, resource: Init<T>): boolean {
    const changed = this.put(codec.typeUrl, name, codec.encode(resource));
    if (changed) this.emit({ typeUrl: codec.typeUrl, names: [name] });
    return changed;
  }

  remove(typeUrl: string, name: string): boolean {
    const removed = this.types.get(typeUrl)?.delete(name) ?? false;
    if (removed) this.emit({ typeUrl, names: [name] });
    return removed;
  }

  /**
   * Replaces the whole set of one type: resources not in `resources` are removed. One
   * notification for the lot — the way a translator publishes a new snapshot.
   */
  replaceAll<T>(codec: Codec<T>, resources: Map<string, Init<T>>): string[] {
    const current = this.types.get(codec.typeUrl) ?? new Map<string, CachedResource>();
    const changed: string[] = [];
    for (const name of [...current.keys()]) {
      if (!resources.has(name)) {
        current.delete(name);
        changed.push(name);
      }
    }
    for (const [name, res] of resources) {
      if (this.put(codec.typeUrl, name, codec.encode(res))) changed.push(name);
    }
    if (changed.length > 0) this.emit({ typeUrl: codec.typeUrl, names: changed });
    return changed;
  }

  get(typeUrl: string, name: string): CachedResource | undefined {
    return this.types.get(typeUrl)?.get(name);
  }

  all(typeUrl: string): ReadonlyMap<string, CachedResource> {
    return this.types.get(typeUrl) ?? new Map();
  }

  typeUrls(): string[] {
    return [...this.types.keys()];
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private put(typeUrl: string, name: string, payload: Uint8Array): boolean {
    let byName = this.types.get(typeUrl);
    if (!byName) {
      byName = new Map();
      this.types.set(typeUrl, byName);
    }
    const version = createHash('sha256').update(payload).digest('base64url').slice(0, 16);
    if (byName.get(name)?.version === version) return false;
    const any = protobuf.Writer.create().uint32(10).string(typeUrl).uint32(18).bytes(payload).finish();
    // envoy Resource: version = 1, resource (Any) = 2, name = 3.
    const delta = protobuf.Writer.create()
      .uint32(10)
      .string(version)
      .uint32(18)
      .bytes(any)
      .uint32(26)
      .string(name)
      .finish();
    byName.set(name, { name, version, deltaBytes: delta, anyBytes: any });
    return true;
  }

  private emit(change: CacheChange): void {
    for (const l of this.listeners) l(change);
  }
}
