// The downstream request body, streamed to the upstream attempt as it arrives, with a copy
// kept for retries and mirrors up to a limit — Envoy's router: the body is buffered only as
// far as a retry or shadow needs it, and past the buffer limit the request keeps streaming but
// can no longer be retried or mirrored. Shared spec waypoint.md §1.7. Bytes held count against
// the proxy-wide cap (`BufferAccount`); past it buffering stops the same way.
import type { Readable, Writable } from 'node:stream';

/** The proxy-wide budget for buffered request bytes. */
export interface BufferAccount {
  /** Reserves `n` bytes; false when the budget is spent. */
  take(n: number): boolean;
  give(n: number): void;
}

export class RequestBody {
  private chunks: Buffer[] = [];
  /** Bytes held in `chunks` (reserved from the account). */
  private held = 0;
  /** Bytes received from downstream so far. */
  private received = 0;
  private ended = false;
  private failed = false;
  /** Past the limit (or the account's budget): nothing more is kept, no replay. */
  private overflowed = false;
  private reader: Writable | undefined;
  private readers = 0;
  private readonly waiting: ((b: Buffer | undefined) => void)[] = [];

  constructor(
    private readonly src: Readable,
    private readonly limit: number,
    private readonly account: BufferAccount,
  ) {
    src.on('data', (c: Buffer) => this.onData(c));
    src.once('end', () => {
      this.ended = true;
      this.reader?.end();
      this.settleWaiting();
    });
    const fail = () => {
      this.failed = true;
      this.reader?.destroy();
      this.settleWaiting();
    };
    src.once('aborted', fail);
    src.once('error', fail);
  }

  /** A further attempt can send the whole body again. */
  get replayable(): boolean {
    return !this.overflowed && !this.failed;
  }

  /** Bytes held for replay right now. */
  get bufferedBytes(): number {
    return this.held;
  }

  /** The whole body once it has arrived, if it was kept (mirrors); undefined otherwise. */
  complete(): Promise<Buffer | undefined> {
    if (this.ended || this.failed || this.overflowed)
      return Promise.resolve(this.ended && !this.overflowed ? Buffer.concat(this.chunks) : undefined);
    return new Promise((r) => this.waiting.push(r));
  }

  /**
   * Sends the body into `dest` (what was kept, then what arrives) and ends it with the body.
   * False when it cannot: the body was not kept and another attempt already consumed it.
   */
  pipeTo(dest: Writable): boolean {
    if (this.failed || (this.overflowed && this.readers > 0)) return false;
    this.readers++;
    this.reader = dest;
    dest.once('close', () => {
      if (this.reader === dest) this.reader = undefined;
    });
    dest.on('drain', () => {
      if (this.reader === dest) this.src.resume();
    });
    for (const c of this.chunks) dest.write(c);
    // Past the limit, what was held only waited for this first attempt: it has it now.
    if (this.overflowed) this.release();
    if (this.ended) dest.end();
    else this.src.resume();
    return true;
  }

  /** Gives the held bytes back (the response has ended). */
  release(): void {
    this.account.give(this.held);
    this.held = 0;
    this.chunks = [];
  }

  private onData(c: Buffer): void {
    this.received += c.length;
    if (!this.overflowed && (this.received > this.limit || !this.account.take(c.length))) {
      this.overflowed = true;
      this.settleWaiting();
      // An attempt already streaming has every byte: nothing needs keeping any more.
      if (this.readers > 0) this.release();
    }
    if (!this.overflowed) {
      this.chunks.push(c);
      this.held += c.length;
    } else if (this.readers === 0) {
      // No attempt has started yet (filters still running): hold this one chunk for it and
      // stop reading — the client waits, the buffer does not grow.
      this.chunks.push(c);
      this.src.pause();
      return;
    }
    const r = this.reader;
    if (r) {
      if (!r.write(c)) this.src.pause();
    } else if (this.overflowed) this.src.pause(); // between attempts, with nothing kept: wait
  }

  private settleWaiting(): void {
    const body = this.ended && !this.overflowed ? Buffer.concat(this.chunks) : undefined;
    for (const w of this.waiting.splice(0)) w(body);
  }
}
