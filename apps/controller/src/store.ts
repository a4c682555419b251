// The in-memory model every source feeds and the translation reads. Objects are keyed by
// kind/namespace/name; a change notifies listeners (the translator debounces).
import { EventEmitter } from 'node:events';
import { type AnyObject, type Kind, objectRef } from '@ambient/model';
import type { Objects } from './translate/index.js';

export class ModelStore extends EventEmitter {
  private readonly objects = new Map<string, AnyObject>();
  /** Objects owned by each source (a file, or `kube`), to replace them as a set. */
  private readonly owned = new Map<string, Set<string>>();

  /** Replaces everything `source` owns with `objects`. */
  replaceSource(source: string, objects: AnyObject[]): void {
    const before = this.owned.get(source) ?? new Set<string>();
    const now = new Set<string>();
    let changed = false;
    for (const o of objects) {
      const ref = objectRef(o);
      now.add(ref);
      if (JSON.stringify(this.objects.get(ref)) !== JSON.stringify(o)) {
        this.objects.set(ref, o);
        changed = true;
      }
    }
    for (const ref of before) {
      if (!now.has(ref)) {
        this.objects.delete(ref);
        changed = true;
      }
    }
    this.owned.set(source, now);
    if (changed) this.emit('change');
  }

  upsert(source: string, o: AnyObject): void {
    const ref = objectRef(o);
    const owned = this.owned.get(source) ?? new Set<string>();
    owned.add(ref);
    this.owned.set(source, owned);
    if (JSON.stringify(this.objects.get(ref)) === JSON.stringify(o)) return;
    this.objects.set(ref, o);
    this.emit('change');
  }

  remove(source: string, ref: string): void {
    this.owned.get(source)?.delete(ref);
    if (this.objects.delete(ref)) this.emit('change');
  }

  get size(): number {
    return this.objects.size;
  }

  counts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const o of this.objects.values()) c[o.kind] = (c[o.kind] ?? 0) + 1;
    return c;
  }

  view(): Objects {
    const pick = <K extends Kind>(k: K) =>
      [...this.objects.values()].filter((o) => o.kind === k) as Extract<AnyObject, { kind: K }>[];
    return {
      Namespace: pick('Namespace'),
      Pod: pick('Pod'),
      Service: pick('Service'),
      EndpointSlice: pick('EndpointSlice'),
      AuthorizationPolicy: pick('AuthorizationPolicy'),
      PeerAuthentication: pick('PeerAuthentication'),
      Gateway: pick('Gateway'),
      VirtualService: pick('VirtualService'),
      DestinationRule: pick('DestinationRule'),
      HTTPRoute: pick('HTTPRoute'),
      RequestAuthentication: pick('RequestAuthentication'),
    };
  }

  all(): AnyObject[] {
    return [...this.objects.values()];
  }
}
