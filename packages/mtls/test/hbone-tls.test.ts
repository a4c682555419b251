// HBONE's TLS layer, for real on loopback: mutual TLS 1.3 with SPIFFE identities, and every
// way a handshake must fail.
import type net from 'node:net';
import tls from 'node:tls';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type CertificateAuthority,
  clientTlsOptions,
  peerIdentity,
  serverTlsOptions,
  verifyClientTrustDomain,
  type WorkloadCertificate,
} from '../src/index.js';
import { issue, newCa } from './helpers.js';

const SERVER_ID = 'spiffe://cluster.local/ns/shop/sa/server';
const CLIENT_ID = 'spiffe://cluster.local/ns/shop/sa/client';

let ca: CertificateAuthority;
let serverCert: WorkloadCertificate;
let clientCert: WorkloadCertificate;
const servers: net.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

beforeAll(async () => {
  ca = await newCa();
  serverCert = issue(ca, SERVER_ID);
  clientCert = issue(ca, CLIENT_ID);
});

interface Seen {
  identities: string[];
  errors: string[];
}

/** An HBONE-like TLS server: checks the client's trust domain, then echoes. */
async function startServer(cert: WorkloadCertificate, trustDomain = 'cluster.local') {
  const seen: Seen = { identities: [], errors: [] };
  const server = tls.createServer(serverTlsOptions(cert), (sock) => {
    try {
      seen.identities.push(verifyClientTrustDomain(sock, trustDomain).toString());
      sock.pipe(sock);
    } catch (err) {
      seen.errors.push((err as Error).message);
      sock.destroy();
    }
  });
  server.on('tlsClientError', (err) => seen.errors.push(err.message));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port, seen };
}

function connect(port: number, opts: tls.ConnectionOptions): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: '127.0.0.1', port, ...opts }, () => resolve(sock));
    sock.once('error', reject);
  });
}

/** Writes, reads the echo; rejects on a TLS alert arriving after the handshake (TLS 1.3). */
function roundTrip(sock: tls.TLSSocket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    sock.once('data', (d) => resolve(d.toString()));
    sock.once('error', reject);
    sock.once('close', () => reject(new Error('closed by peer')));
    sock.write(text);
  });
}

describe('HBONE TLS', () => {
  it('completes a mutual TLS 1.3 handshake with ALPN h2 and one of the two AES-GCM suites; both sides see the other identity', async () => {
    const { port, seen } = await startServer(serverCert);
    const sock = await connect(port, clientTlsOptions(clientCert, [SERVER_ID]));
    expect(await roundTrip(sock, 'ping')).toBe('ping');
    expect(sock.getProtocol()).toBe('TLSv1.3');
    expect(sock.alpnProtocol).toBe('h2');
    expect(['TLS_AES_256_GCM_SHA384', 'TLS_AES_128_GCM_SHA256']).toContain(sock.getCipher().standardName);
    expect(peerIdentity(sock)?.toString()).toBe(SERVER_ID);
    expect(seen.identities).toEqual([CLIENT_ID]);
    sock.destroy();
  });

  it('rejects a client from another trust domain (same root)', async () => {
    const { port, seen } = await startServer(serverCert);
    // Same root, another trust domain: the chain verifies, the trust-domain check must not.
    const otherTd = issue(ca, 'spiffe://evil.local/ns/shop/sa/client');
    const sock = await connect(port, clientTlsOptions(otherTd, [SERVER_ID]));
    await expect(roundTrip(sock, 'ping')).rejects.toThrow();
    expect(seen.errors.join()).toMatch(/client trust domain evil.local is not ours \(cluster.local\)/);
  });

  it('rejects a server whose SAN is not in the expected set', async () => {
    const { port } = await startServer(serverCert);
    await expect(
      connect(port, clientTlsOptions(clientCert, ['spiffe://cluster.local/ns/shop/sa/other'])),
    ).rejects.toThrow(
      /server identity spiffe:\/\/cluster.local\/ns\/shop\/sa\/server is not one of the expected/,
    );
  });

  it('rejects an expired client certificate', async () => {
    const { port, seen } = await startServer(serverCert);
    const expired = issue(ca, CLIENT_ID, { ttlSeconds: 60, notBefore: new Date(Date.now() - 3600_000) });
    const sock = await connect(port, clientTlsOptions(expired, [SERVER_ID]));
    // TLS 1.3: the client's handshake "succeeds"; Node's server then checks the chain and
    // drops the connection, so the client's first read ends without an echo.
    await expect(roundTrip(sock, 'ping')).rejects.toThrow(/closed by peer|expired/i);
    expect(seen.identities).toEqual([]);
    expect(seen.errors.length).toBe(1);
  });

  it('rejects an expired server certificate', async () => {
    const expired = issue(ca, SERVER_ID, { ttlSeconds: 60, notBefore: new Date(Date.now() - 3600_000) });
    const { port } = await startServer(expired);
    await expect(connect(port, clientTlsOptions(clientCert, [SERVER_ID]))).rejects.toThrow(/expired/i);
  });

  it('rejects a certificate from another root, in both directions', async () => {
    const other = await newCa();
    const strangerClient = issue(other, CLIENT_ID);
    const { port, seen } = await startServer(serverCert);
    const sock = await connect(port, clientTlsOptions(strangerClient, [SERVER_ID])).catch((e: Error) => e);
    if (sock instanceof tls.TLSSocket) await expect(roundTrip(sock, 'ping')).rejects.toThrow();
    expect(seen.identities).toEqual([]);
    const strangerServer = await startServer(issue(other, SERVER_ID));
    await expect(connect(strangerServer.port, clientTlsOptions(clientCert, [SERVER_ID]))).rejects.toThrow(
      /self[- ]signed|unable to verify|certificate/i,
    );
  });

  it('rejects a TLS 1.2 client', async () => {
    const { port } = await startServer(serverCert);
    const { secureContext: _ctx, ...rest } = clientTlsOptions(clientCert, [SERVER_ID]);
    const tls12 = {
      ...rest,
      key: clientCert.privateKeyPem,
      cert: clientCert.certPem,
      ca: clientCert.rootPem,
    };
    await expect(
      connect(port, {
        ...tls12,
        minVersion: 'TLSv1.2',
        maxVersion: 'TLSv1.2',
        ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256',
      }),
    ).rejects.toThrow(/protocol version|unsupported protocol|wrong version/i);
  });

  it('rejects a client that presents no certificate', async () => {
    const { port, seen } = await startServer(serverCert);
    const { secureContext: _ctx, ...rest } = clientTlsOptions(clientCert, [SERVER_ID]);
    const sock = await connect(port, { ...rest, ca: clientCert.rootPem });
    await expect(roundTrip(sock, 'ping')).rejects.toThrow();
    expect(seen.identities).toEqual([]);
  });
});
