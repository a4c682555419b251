// How a proxy role obtains its sockets. The roles never call net.connect themselves, so the
// same listener code runs on loopback (this file) and with in-pod capture, where sockets
// are created inside the pod's network namespace (issue: in-pod capture).
import net from 'node:net';
import type { Workload } from '../state/types.js';

export interface SocketFactory {
  /** TCP for an HBONE session, leaving from the source workload's address. */
  dialHbone(source: Workload, srcIp: string, dstIp: string, dstPort: number): net.Socket;
  /** Plain TCP for passthrough traffic of a source workload. */
  dialPassthrough(source: Workload, srcIp: string, dstIp: string, dstPort: number): net.Socket;
  /** Connects to the app of a local workload, from the client's address when possible. */
  connectApp(destination: Workload, dstIp: string, dstPort: number, clientIp: string): net.Socket;
}

const isLoopback = (ip: string) => ip.startsWith('127.') || ip === '::1' || ip.startsWith('::ffff:127.');

/**
 * Loopback mode (no capture): every workload is an address on 127.0.0.0/8. Any loopback
 * address is local, so binding the source address keeps the source IP on both legs —
 * the app sees the client workload's address, as with in-pod capture.
 */
export const loopbackSockets: SocketFactory = {
  dialHbone: (_s, srcIp, dstIp, dstPort) => connect(dstIp, dstPort, srcIp),
  dialPassthrough: (_s, srcIp, dstIp, dstPort) => connect(dstIp, dstPort, srcIp),
  connectApp: (_d, dstIp, dstPort, clientIp) => connect(dstIp, dstPort, clientIp),
};

function connect(host: string, port: number, localIp: string): net.Socket {
  const local =
    isLoopback(localIp) && isLoopback(host) ? { localAddress: localIp.replace(/^::ffff:/, '') } : {};
  const s = net.connect({ host, port, allowHalfOpen: true, ...local });
  s.setNoDelay(true);
  return s;
}

/** Resolves once the socket is connected; rejects with the connect error. */
export function connected(socket: net.Socket, timeoutMs = 10_000): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${socket.remoteAddress ?? 'upstream'} timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
    const onError = (err: Error) => {
      clearTimeout(timer);
      reject(err);
    };
    socket.once('error', onError);
  });
}
