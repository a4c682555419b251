// Readiness (spec §8): ready when no start-up task is pending.
export class Readiness {
  private readonly pending = new Set<string>();

  /** Registers a task; call the returned function when it is done. */
  register(task: string): () => void {
    this.pending.add(task);
    return () => this.pending.delete(task);
  }

  /** Marks a task pending again (e.g. a lost connection). */
  block(task: string): void {
    this.pending.add(task);
  }

  done(task: string): void {
    this.pending.delete(task);
  }

  get ready(): boolean {
    return this.pending.size === 0;
  }

  pendingTasks(): string[] {
    return [...this.pending].sort();
  }
}
