// SecretManager: renewal at half-life, back-off with the old certificate serving, the
// in-flight cap, and rotation under a live TLS listener.
import type net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  type CertificateProvider,
  clientTlsOptions,
  Identity,
  Priority,
  SecretManager,
  serverSecureContextOptions,
  serverTlsOptions,
  type WorkloadCertificate,
} from '../src/index.js';
import { issue, newCa, provider } from './helpers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SERVER = Identity.parse('spiffe://cluster.local/ns/shop/sa/server');
const CLIENT = Identity.parse('spiffe://cluster.local/ns/shop/sa/client');

describe('SecretManager', () => {
  it('keeps an open connection streaming across two rotations while new handshakes get the new certificate', async () => {
    const ca = await newCa();
    const sm = new SecretManager(provider(ca, 4)); // 4 s certificates: renewed every ~2 s
    const clientCert = issue(ca, CLIENT.toString(), { ttlSeconds: 3600 });
    const first = await sm.fetch(SERVER);
    const server = tls.createServer(serverTlsOptions(first), (sock) => sock.pipe(sock));
    const rotations: WorkloadCertificate[] = [];
    sm.on('rotated', (id: Identity, cert: WorkloadCertificate) => {
      if (!id.equals(SERVER)) return;
      rotations.push(cert);
      server.setSecureContext(serverSecureContextOptions(cert));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const handshake = () =>
      new Promise<tls.TLSSocket>((res, rej) => {
        const s = tls.connect(
          { host: '127.0.0.1', port, ...clientTlsOptions(clientCert, [SERVER.toString()]) },
          () => res(s),
        );
        s.once('error', rej);
      });

    const long = await handshake();
    const firstSerial = long.getPeerCertificate().serialNumber;
    let echoed = 0;
    long.on('data', (d: Buffer) => {
      echoed += d.length;
    });
    const serials = new Set<string>([firstSerial]);
    const deadline = Date.now() + 10_000;
    let sent = 0;
    while (rotations.length < 2 && Date.now() < deadline) {
      long.write(Buffer.alloc(1024, 1));
      sent += 1024;
      await sleep(100);
      if (rotations.length > 0) {
        const fresh = await handshake();
        serials.add(fresh.getPeerCertificate().serialNumber);
        fresh.destroy();
      }
    }
    await sleep(200);
    expect(rotations.length).toBeGreaterThanOrEqual(2);
    expect(echoed).toBe(sent); // the old connection never broke
    expect(long.getPeerCertificate().serialNumber).toBe(firstSerial);
    expect(serials.size).toBeGreaterThanOrEqual(3); // first + two rotated certificates were presented
    long.destroy();
    server.close();
    sm.stop();
  });

  it('on failure keeps serving the valid old certificate and retries with back-off', async () => {
    const ca = await newCa();
    const good = provider(ca, 3600);
    let failing = false;
    let attempts = 0;
    const flaky: CertificateProvider = {
      fetchCertificate: async (id) => {
        attempts++;
        if (failing) throw new Error('CA down');
        return good.fetchCertificate(id);
      },
    };
    const sm = new SecretManager(flaky, { initialBackoffMs: 50, jitter: 0 });
    const first = await sm.fetch(SERVER);
    failing = true;
    sm.prefetch(Identity.parse('spiffe://cluster.local/ns/x/sa/y'));
    await sleep(400);
    const failures = sm.status().find((s) => s.identity.endsWith('/sa/y'))!;
    expect(failures.failures).toBeGreaterThanOrEqual(3); // 50, 100, 200 ms back-off
    expect(failures.lastError).toBe('CA down');
    expect(failures.failures).toBeLessThanOrEqual(5);
    // The first identity's certificate is still served while the CA is down.
    expect((await sm.fetch(SERVER)).serialNumber).toBe(first.serialNumber);
    failing = false;
    await sleep(600);
    expect(sm.status().find((s) => s.identity.endsWith('/sa/y'))!.state).toBe('available');
    expect(attempts).toBeGreaterThan(4);
    sm.stop();
  });

  it('runs at most 8 CSRs at once and serves waiting connections before background work', async () => {
    let inFlight = 0;
    let maxSeen = 0;
    const order: string[] = [];
    const ca = await newCa();
    const slow: CertificateProvider = {
      fetchCertificate: async (id) => {
        inFlight++;
        maxSeen = Math.max(maxSeen, inFlight);
        order.push(id.serviceAccount);
        await sleep(30);
        inFlight--;
        return issue(ca, id.toString());
      },
    };
    const sm = new SecretManager(slow);
    for (let i = 0; i < 20; i++)
      sm.prefetch(Identity.parse(`spiffe://cluster.local/ns/bg/sa/bg${i}`), Priority.Background);
    const urgent = sm.fetch(Identity.parse('spiffe://cluster.local/ns/rt/sa/urgent'), Priority.RealTime);
    await urgent;
    expect(maxSeen).toBe(8);
    // The urgent one started as soon as a slot freed: within the second batch, not last.
    expect(order.indexOf('urgent')).toBeLessThan(16);
    await sleep(200);
    expect(sm.status().filter((s) => s.state === 'available')).toHaveLength(21);
    sm.stop();
  });

  it('forgets identities: no more renewals, waiters told', async () => {
    const ca = await newCa();
    const p = provider(ca, 2);
    const sm = new SecretManager(p);
    await sm.fetch(SERVER);
    sm.forget(SERVER);
    await sleep(1500); // past half-life of a 2 s certificate
    expect(p.calls).toBe(1);
    expect(sm.get(SERVER)).toBeUndefined();
    sm.stop();
  });
});
