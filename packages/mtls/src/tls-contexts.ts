// TLS for HBONE — shared spec ztunnel.md §1.2:
// - TLS 1.3 only; exactly TLS_AES_256_GCM_SHA384 and TLS_AES_128_GCM_SHA256; ALPN `h2`;
// - server: client certificate requested and required, chain verified to our roots, and
//   the client's SPIFFE trust domain must equal ours (who exactly is RBAC's job);
// - client: presents its certificate, verifies the chain, and requires one of the server's
//   URI SANs to be in the expected identity set — no hostname check (SPIFFE certificates
//   carry no DNS or IP SAN), no SNI, no session resumption;
// - the peer identity is the first parseable `spiffe://` URI SAN.
// Certificates rotate without restarting listeners: `setSecureContext` for new handshakes.
import { constants } from 'node:crypto';
import tls from 'node:tls';
import type { WorkloadCertificate } from './ca/ca-client.js';
import { MtlsError } from './errors.js';
import { Identity } from './identity.js';

export const HBONE_CIPHERS = 'TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256';
export const HBONE_ALPN = ['h2'];

function material(cert: WorkloadCertificate): tls.SecureContextOptions {
  return {
    key: cert.privateKeyPem,
    cert: [cert.certPem, ...cert.chainPems].join(''),
    ca: cert.rootPem,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    ciphers: HBONE_CIPHERS,
    // No session tickets or resumption: every connection proves its identity afresh.
    secureOptions: constants.SSL_OP_NO_TICKET,
  };
}

/** Options for an HBONE server (tls.createServer / http2.createSecureServer). */
export function serverTlsOptions(cert: WorkloadCertificate): tls.TlsOptions {
  return { ...material(cert), requestCert: true, rejectUnauthorized: true, ALPNProtocols: HBONE_ALPN };
}

/** The part of the options that changes on rotation (for `server.setSecureContext`). */
export function serverSecureContextOptions(cert: WorkloadCertificate): tls.SecureContextOptions {
  return material(cert);
}

// Parsing the key and certificates is most of a client handshake's cost when done per
// connection: one SecureContext per certificate, reused until the certificate rotates.
const clientContexts = new WeakMap<WorkloadCertificate, tls.SecureContext>();

function clientContext(cert: WorkloadCertificate): tls.SecureContext {
  let ctx = clientContexts.get(cert);
  if (!ctx) {
    ctx = tls.createSecureContext(material(cert));
    clientContexts.set(cert, ctx);
  }
  return ctx;
}

/** Options for an HBONE client connecting to a peer that must be one of `expected` (SPIFFE URIs). */
export function clientTlsOptions(
  cert: WorkloadCertificate,
  expected: readonly string[],
): tls.ConnectionOptions {
  const want = new Set(expected);
  return {
    secureContext: clientContext(cert),
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    rejectUnauthorized: true,
    ALPNProtocols: HBONE_ALPN,
    checkServerIdentity: (_host, peer) => {
      const uris = uriSans(peer.subjectaltname);
      if (uris.some((u) => want.has(u))) return undefined;
      return new MtlsError(
        'PEER_IDENTITY',
        `server identity ${uris.join(', ') || '(none)'} is not one of the expected ${[...want].join(', ') || '(none)'}`,
      );
    },
  };
}

function uriSans(subjectaltname: string | undefined): string[] {
  return (subjectaltname ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('URI:'))
    .map((s) => s.slice(4));
}

/** The peer's identity: its first parseable SPIFFE URI SAN. */
export function peerIdentity(socket: tls.TLSSocket): Identity | undefined {
  const peer = socket.getPeerCertificate();
  for (const uri of uriSans(peer?.subjectaltname)) {
    const id = Identity.tryParse(uri);
    if (id) return id;
  }
  return undefined;
}

/**
 * Server-side check after the handshake (chain already verified by TLS): the client must
 * have a SPIFFE identity in our trust domain. Returns it, or throws PEER_IDENTITY.
 */
export function verifyClientTrustDomain(socket: tls.TLSSocket, trustDomain: string): Identity {
  const id = peerIdentity(socket);
  if (!id) throw new MtlsError('PEER_IDENTITY', 'client certificate carries no SPIFFE identity');
  if (id.trustDomain !== trustDomain) {
    throw new MtlsError(
      'PEER_IDENTITY',
      `client trust domain ${id.trustDomain} is not ours (${trustDomain})`,
    );
  }
  return id;
}
