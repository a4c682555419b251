// Open inbound connections and the attributes policy judged them on. When policies or
// workloads change, every tracked connection is judged again and the newly denied ones are
// closed ("connection closed due to policy change" — shared spec ztunnel.md §1.7, §6.1).
import { type Connection, evaluate, selectPolicies } from '@ambient/policy';
import type { ProxyState } from '../state/proxy-state.js';

export interface Tracked {
  workloadUid: string;
  conn: Connection;
  close(reason: string): void;
}

export class ConnectionTracker {
  private readonly open = new Set<Tracked>();

  constructor(
    private readonly state: ProxyState,
    private readonly onClosed: (t: Tracked, reason: string) => void,
  ) {
    const recheck = () => this.recheck();
    state.on('policies', recheck);
    state.on('workloads', recheck);
  }

  add(t: Tracked): () => void {
    this.open.add(t);
    return () => this.open.delete(t);
  }

  get size(): number {
    return this.open.size;
  }

  /** Inbound connections per local workload uid, for /config_dump. */
  byWorkload(): Map<string, number> {
    const m = new Map<string, number>();
    for (const t of this.open) m.set(t.workloadUid, (m.get(t.workloadUid) ?? 0) + 1);
    return m;
  }

  recheck(): void {
    for (const t of [...this.open]) {
      const w = this.state.findWorkload(t.workloadUid);
      if (!w) continue;
      const { policies } = selectPolicies(this.state.compiledPolicies(), w);
      const decision = evaluate(policies, t.conn);
      if (!decision.allowed) {
        this.open.delete(t);
        const reason = `connection closed due to policy change: ${decision.reason}`;
        t.close(reason);
        this.onClosed(t, reason);
      }
    }
  }
}
