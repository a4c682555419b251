// SOCKS5 outbound entry (RFC 1928, no authentication, CONNECT only) — how applications
// enter the mesh when nothing captures their traffic, as Istio's ztunnel offers with
// UNSTABLE_ENABLE_SOCKS5 (shared spec ztunnel.md §1.1). The source workload is the one whose
// address the client connects from. Success is answered at once; the connection then goes
// through the outbound role, which resets it if the destination cannot be reached.
import { lookup } from 'node:dns/promises';
import type net from 'node:net';

export interface SocksTarget {
  ip: string;
  port: number;
}

const REPLY_OK = Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
const reply = (code: number) => Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]);

/** Reads the SOCKS5 handshake from `sock`; resolves with the target and leaves any extra bytes unread. */
export function readSocksRequest(
  sock: net.Socket,
  resolveHost: (host: string) => Promise<string | undefined>,
): Promise<SocksTarget> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    let stage: 'greeting' | 'request' = 'greeting';
    const fail = (code: number, why: string) => {
      sock.off('data', onData);
      sock.end(reply(code));
      reject(new Error(why));
    };
    const onData = async (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (stage === 'greeting') {
        if (buf.length < 2) return;
        if (buf[0] !== 5) return fail(1, `not SOCKS5 (version ${buf[0]})`);
        const n = buf[1]!;
        if (buf.length < 2 + n) return;
        const methods = buf.subarray(2, 2 + n);
        buf = buf.subarray(2 + n);
        if (!methods.includes(0)) {
          sock.off('data', onData);
          sock.end(Buffer.from([5, 0xff]));
          return reject(new Error('client offers no no-authentication method'));
        }
        sock.write(Buffer.from([5, 0]));
        stage = 'request';
      }
      if (buf.length < 4) return;
      if (buf[1] !== 1) return fail(7, `SOCKS command ${buf[1]} not supported (CONNECT only)`);
      const atyp = buf[3];
      let host: string;
      let end: number;
      if (atyp === 1) {
        if (buf.length < 10) return;
        host = [...buf.subarray(4, 8)].join('.');
        end = 8;
      } else if (atyp === 4) {
        if (buf.length < 22) return;
        const b = buf.subarray(4, 20);
        host = Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');
        end = 20;
      } else if (atyp === 3) {
        const len = buf[4]!;
        if (buf.length < 5 + len + 2) return;
        host = buf.subarray(5, 5 + len).toString('utf8');
        end = 5 + len;
      } else return fail(8, `address type ${atyp} not supported`);
      const port = buf.readUInt16BE(end);
      const rest = buf.subarray(end + 2);
      sock.off('data', onData);
      sock.pause();
      if (rest.length > 0) sock.unshift(rest);
      let ip = host;
      if (atyp === 3) {
        const resolved = await resolveHost(host).catch(() => undefined);
        if (!resolved) return fail(4, `cannot resolve ${host}`);
        ip = resolved;
      }
      sock.write(REPLY_OK);
      resolve({ ip, port });
    };
    sock.on('data', onData);
    sock.once('error', reject);
  });
}

export async function dnsResolve(host: string): Promise<string | undefined> {
  const { address } = await lookup(host);
  return address;
}

export function refuseSocks(sock: net.Socket): void {
  sock.end(reply(2)); // connection not allowed by ruleset
}
