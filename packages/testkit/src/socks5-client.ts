// A SOCKS5 client (RFC 1928, no authentication, CONNECT) for tests: how an application
// enters ztunnel's outbound path when nothing captures its traffic.
import net from 'node:net';

export interface SocksConnectOptions {
  proxyHost: string;
  proxyPort: number;
  /** Address to connect from: ztunnel identifies the source workload by it. */
  localAddress?: string;
  dstIp: string;
  dstPort: number;
  timeoutMs?: number;
}

/** Resolves with a socket whose next bytes go to (dstIp, dstPort). Half-close is kept. */
export function socksConnect(o: SocksConnectOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({
      host: o.proxyHost,
      port: o.proxyPort,
      allowHalfOpen: true,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    });
    const timer = setTimeout(
      () => sock.destroy(new Error(`SOCKS5 handshake with ${o.proxyHost}:${o.proxyPort} timed out`)),
      o.timeoutMs ?? 10_000,
    );
    let buf = Buffer.alloc(0);
    let stage = 0;
    const fail = (err: Error) => {
      clearTimeout(timer);
      sock.destroy();
      reject(err);
    };
    sock.once('error', fail);
    sock.once('connect', () => sock.write(Buffer.from([5, 1, 0])));
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      if (stage === 0) {
        if (buf.length < 2) return;
        if (buf[0] !== 5 || buf[1] !== 0) return fail(new Error(`SOCKS5 proxy refused no-auth (${buf[1]})`));
        buf = buf.subarray(2);
        const v4 = net.isIPv4(o.dstIp);
        const addr = v4 ? Buffer.from(o.dstIp.split('.').map(Number)) : ipv6Bytes(o.dstIp);
        const port = Buffer.alloc(2);
        port.writeUInt16BE(o.dstPort);
        sock.write(Buffer.concat([Buffer.from([5, 1, 0, v4 ? 1 : 4]), addr, port]));
        stage = 1;
      }
      if (stage === 1) {
        if (buf.length < 10) return;
        if (buf[1] !== 0) return fail(new Error(`SOCKS5 CONNECT refused with code ${buf[1]}`));
        const rest = buf.subarray(10);
        sock.off('data', onData);
        sock.off('error', fail);
        clearTimeout(timer);
        if (rest.length > 0) sock.unshift(rest);
        resolve(sock);
      }
    };
    sock.on('data', onData);
  });
}

function ipv6Bytes(ip: string): Buffer {
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => {
    b.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return b;
}

/** Sends `data` through a connected socket, half-closes, returns everything received. */
export function exchange(sock: net.Socket, data: string | Buffer, timeoutMs = 10_000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error('no end of reply in time')), timeoutMs);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    sock.end(data);
  });
}
