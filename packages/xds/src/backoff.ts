// Reconnect back-off for the ADS stream — shared spec ztunnel.md §3.1: start 10 ms, double
// up to 15 s on errors; reset to 10 ms after a normal stream end.
export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** Share of the delay randomised (± jitter/2). */
  jitter?: number;
  random?: () => number;
}

export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly jitter: number;
  private readonly random: () => number;
  private current: number;

  constructor(opts: BackoffOptions = {}) {
    this.initialMs = opts.initialMs ?? 10;
    this.maxMs = opts.maxMs ?? 15_000;
    this.jitter = opts.jitter ?? 0.2;
    this.random = opts.random ?? Math.random;
    this.current = this.initialMs;
  }

  /** The delay before the next attempt; each call doubles the base up to the cap. */
  next(): number {
    const base = this.current;
    this.current = Math.min(this.current * 2, this.maxMs);
    const spread = base * this.jitter;
    return Math.max(0, Math.round(base - spread / 2 + this.random() * spread));
  }

  reset(): void {
    this.current = this.initialMs;
  }
}
