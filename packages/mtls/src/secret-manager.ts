// Per-identity certificate cache with rotation — shared spec ztunnel.md §2.4.
//
// - fetch on demand with priorities: a connection waiting (RealTime) > Warmup > Background;
// - at most 8 CSRs in flight; the rest wait in priority order;
// - renew at half-life: notBefore + (notAfter − notBefore) / 2;
// - on failure, per-identity back-off (500 ms doubling, jitter 0.2, cap 150 s) while a
//   still-valid previous certificate keeps serving until it expires;
// - forget identities no longer needed; an event on every rotation.
import { EventEmitter } from 'node:events';
import type { CertificateProvider, WorkloadCertificate } from './ca/ca-client.js';
import { MtlsError } from './errors.js';
import type { Identity } from './identity.js';

const MIN_RENEW_DELAY_MS = 1000;

export enum Priority {
  RealTime = 0,
  Warmup = 1,
  Background = 2,
}

export interface SecretManagerOptions {
  maxInFlight?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  jitter?: number;
  random?: () => number;
}

interface Waiter {
  resolve: (c: WorkloadCertificate) => void;
  reject: (e: Error) => void;
}

interface Entry {
  identity: Identity;
  cert?: WorkloadCertificate;
  /** Queued or in flight. */
  state: 'idle' | 'queued' | 'fetching';
  priority: Priority;
  waiters: Waiter[];
  failures: number;
  timer?: NodeJS.Timeout;
  lastError?: string;
}

export interface SecretStatus {
  identity: string;
  state: 'available' | 'pending' | 'failed' | 'unavailable';
  notBefore?: string;
  notAfter?: string;
  serialNumber?: string;
  failures: number;
  lastError?: string;
}

/**
 * Events: 'rotated' (identity, cert) on every new certificate (first one included);
 * 'fetch-failed' (identity, error).
 */
export class SecretManager extends EventEmitter {
  private readonly entries = new Map<string, Entry>();
  private readonly maxInFlight: number;
  private inFlight = 0;
  private stopped = false;

  constructor(
    private readonly provider: CertificateProvider,
    private readonly opts: SecretManagerOptions = {},
  ) {
    super();
    this.maxInFlight = opts.maxInFlight ?? 8;
  }

  /** A valid certificate for `identity`: the cached one, or one fetched now. */
  fetch(identity: Identity, priority = Priority.RealTime): Promise<WorkloadCertificate> {
    const e = this.entry(identity);
    if (e.cert && this.valid(e.cert)) return Promise.resolve(e.cert);
    return new Promise((resolve, reject) => {
      e.waiters.push({ resolve, reject });
      this.request(e, priority);
    });
  }

  /** Starts fetching in the background (a workload appeared on this node). */
  prefetch(identity: Identity, priority = Priority.Warmup): void {
    const e = this.entry(identity);
    if (!e.cert) this.request(e, priority);
  }

  /** The current certificate if it is still valid. */
  get(identity: Identity): WorkloadCertificate | undefined {
    const cert = this.entries.get(identity.toString())?.cert;
    return cert && this.valid(cert) ? cert : undefined;
  }

  /** Drops an identity no longer needed: no more renewals. */
  forget(identity: Identity): void {
    const key = identity.toString();
    const e = this.entries.get(key);
    if (!e) return;
    if (e.timer) clearTimeout(e.timer);
    for (const w of e.waiters)
      w.reject(new MtlsError('CA_RPC', `certificate for ${key} is no longer needed`));
    this.entries.delete(key);
  }

  status(): SecretStatus[] {
    return [...this.entries.values()].map((e) => ({
      identity: e.identity.toString(),
      state:
        e.cert && this.valid(e.cert)
          ? 'available'
          : e.state !== 'idle'
            ? 'pending'
            : e.failures > 0
              ? 'failed'
              : 'unavailable',
      ...(e.cert
        ? {
            notBefore: e.cert.notBefore.toISOString(),
            notAfter: e.cert.notAfter.toISOString(),
            serialNumber: e.cert.serialNumber,
          }
        : {}),
      failures: e.failures,
      ...(e.lastError ? { lastError: e.lastError } : {}),
    }));
  }

  stop(): void {
    this.stopped = true;
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
  }

  private entry(identity: Identity): Entry {
    const key = identity.toString();
    let e = this.entries.get(key);
    if (!e) {
      e = { identity, state: 'idle', priority: Priority.Background, waiters: [], failures: 0 };
      this.entries.set(key, e);
    }
    return e;
  }

  private valid(cert: WorkloadCertificate): boolean {
    return cert.notAfter.getTime() > Date.now();
  }

  private request(e: Entry, priority: Priority): void {
    if (e.state === 'fetching') return;
    if (e.state === 'queued') {
      e.priority = Math.min(e.priority, priority);
      // A waiting connection must not sit out a back-off delay.
      if (priority === Priority.RealTime && e.timer) {
        clearTimeout(e.timer);
        e.timer = undefined;
      } else return;
    }
    e.state = 'queued';
    e.priority = priority;
    this.pump();
  }

  private pump(): void {
    while (!this.stopped && this.inFlight < this.maxInFlight) {
      let next: Entry | undefined;
      for (const e of this.entries.values()) {
        if (e.state === 'queued' && !e.timer && (!next || e.priority < next.priority)) next = e;
      }
      if (!next) return;
      this.start(next);
    }
  }

  private start(e: Entry): void {
    e.state = 'fetching';
    this.inFlight++;
    this.provider.fetchCertificate(e.identity).then(
      (cert) => this.done(e, cert, undefined),
      (err: unknown) => this.done(e, undefined, err as Error),
    );
  }

  private done(e: Entry, cert: WorkloadCertificate | undefined, err: Error | undefined): void {
    this.inFlight--;
    if (this.entries.get(e.identity.toString()) !== e || this.stopped) {
      this.pump();
      return; // forgotten meanwhile
    }
    if (cert) {
      e.cert = cert;
      e.failures = 0;
      e.state = 'idle';
      delete e.lastError;
      for (const w of e.waiters.splice(0)) w.resolve(cert);
      this.emit('rotated', e.identity, cert);
      const half = cert.notBefore.getTime() + (cert.notAfter.getTime() - cert.notBefore.getTime()) / 2;
      // Never sooner than a second: a certificate whose half-life has already passed (a CA
      // that backdates a lot) must not turn renewal into a loop against the CA.
      this.schedule(e, Math.max(MIN_RENEW_DELAY_MS, half - Date.now()), Priority.Background);
    } else {
      e.failures++;
      e.lastError = err!.message;
      this.emit('fetch-failed', e.identity, err);
      // Waiting connections learn now; a still-valid certificate keeps serving meanwhile.
      const stillValid = e.cert && this.valid(e.cert) ? e.cert : undefined;
      for (const w of e.waiters.splice(0)) stillValid ? w.resolve(stillValid) : w.reject(err!);
      e.state = 'idle';
      this.schedule(e, this.backoffMs(e.failures), e.priority);
    }
    this.pump();
  }

  private schedule(e: Entry, delayMs: number, priority: Priority): void {
    if (e.timer) clearTimeout(e.timer);
    e.state = 'queued';
    e.priority = priority;
    e.timer = setTimeout(() => {
      e.timer = undefined;
      this.pump();
    }, delayMs);
    e.timer.unref();
  }

  private backoffMs(failures: number): number {
    const initial = this.opts.initialBackoffMs ?? 500;
    const max = this.opts.maxBackoffMs ?? 150_000;
    const jitter = this.opts.jitter ?? 0.2;
    const base = Math.min(initial * 2 ** (failures - 1), max);
    return Math.round(base * (1 - jitter / 2 + (this.opts.random ?? Math.random)() * jitter));
  }
}
