// Sockets created inside another network namespace, handed to Node — shared spec
// capture-from-node.md §3 (the in-pod model) and its traps:
//  1. never let Node create the socket (it defers creation to a later tick, landing in
//     whatever namespace the thread is in by then): koffi creates it, Node gets the fd
//     (`server.listen({fd})`, `new net.Socket({fd}).connect(…)`);
//  2. the namespace window is synchronous and always restored (try/finally; a failed
//     restore leaves the process in an undefined state, so it aborts);
//  3. setns is per thread: only the JS main thread enters the window.
import { closeSync, fstatSync, openSync, statSync } from 'node:fs';
import net from 'node:net';
import * as n from './native.js';

/** The fd Node wraps (undocumented `_handle.fd`, stable for years: kept in this one place). */
export function fdOf(s: net.Socket | net.Server): number {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('socket has no file descriptor yet');
  return fd;
}

/** Runs `fn` with the calling (main) thread inside the network namespace at `nsPath`. */
export function inNetns<T>(nsPath: string, fn: () => T): T {
  const self = openSync('/proc/thread-self/ns/net', 'r');
  let target: number | undefined;
  try {
    target = openSync(nsPath, 'r');
    n.check(
      n.setns(target, n.CLONE_NEWNET),
      `setns(${nsPath})`,
      'ztunnel needs CAP_SYS_ADMIN and the pod netns mounted',
    );
    try {
      return fn();
    } finally {
      if (n.setns(self, n.CLONE_NEWNET) < 0) {
        // The main thread would stay in the pod's namespace: nothing after this is safe.
        process.stderr.write(`fatal: cannot return from network namespace ${nsPath}: errno ${n.errno()}\n`);
        process.abort();
      }
    }
  } finally {
    if (target !== undefined) closeSync(target);
    closeSync(self);
  }
}

export interface SockaddrParts {
  ip: string;
  port: number;
}

export function encodeSockaddr(ip: string, port: number): Buffer {
  if (net.isIPv6(ip)) {
    const b = Buffer.alloc(28);
    b.writeUInt16LE(n.AF_INET6, 0);
    b.writeUInt16BE(port, 2);
    ipv6ToBytes(ip).copy(b, 8);
    return b;
  }
  const b = Buffer.alloc(16);
  b.writeUInt16LE(n.AF_INET, 0);
  b.writeUInt16BE(port, 2);
  Buffer.from(ip.split('.').map(Number)).copy(b, 4);
  return b;
}

export function decodeSockaddr(b: Buffer): SockaddrParts {
  const family = b.readUInt16LE(0);
  const port = b.readUInt16BE(2);
  if (family === n.AF_INET) return { ip: [...b.subarray(4, 8)].join('.'), port };
  const a = b.subarray(8, 24);
  const groups = Array.from({ length: 8 }, (_, i) => a.readUInt16BE(i * 2).toString(16));
  return { ip: groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::'), port };
}

function ipv6ToBytes(ip: string): Buffer {
  const [head, tail = ''] = ip.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => {
    b.writeUInt16BE(Number.parseInt(g, 16), i * 2);
  });
  return b;
}

function setInt(fd: number, level: number, name: number, value: number, what: string): void {
  const v = Buffer.alloc(4);
  v.writeInt32LE(value);
  n.check(
    n.setsockopt(fd, level, name, v, 4),
    `setsockopt(${what})`,
    name === n.SO_MARK || name === n.IP_TRANSPARENT ? 'needs CAP_NET_ADMIN' : undefined,
  );
}

export interface SocketOptions {
  /** Network namespace to create the socket in (a path such as /var/run/netns/pod-a). */
  netns?: string;
  family?: 4 | 6;
  /** SO_MARK: ztunnel's own packets carry 0x539 so the pod's capture rules skip them. */
  mark?: number;
  /** IP_TRANSPARENT: bind to a non-local address (keep the client's source IP). */
  transparent?: boolean;
  reusePort?: boolean;
}

function newSocket(o: SocketOptions): number {
  const family = o.family === 6 ? n.AF_INET6 : n.AF_INET;
  const fd = n.check(n.socket(family, n.SOCK_STREAM | n.SOCK_NONBLOCK | n.SOCK_CLOEXEC, 0), 'socket');
  try {
    if (o.mark !== undefined) setInt(fd, n.SOL_SOCKET, n.SO_MARK, o.mark, 'SO_MARK');
    if (o.transparent) {
      if (family === n.AF_INET6) setInt(fd, n.SOL_IPV6, n.IPV6_TRANSPARENT, 1, 'IPV6_TRANSPARENT');
      else setInt(fd, n.SOL_IP, n.IP_TRANSPARENT, 1, 'IP_TRANSPARENT');
    }
    return fd;
  } catch (err) {
    n.close(fd);
    throw err;
  }
}

/** A listening socket (bound, listening) created in `o.netns`; wrap it with `server.listen({fd})`. */
export function listenSocket(o: SocketOptions & { host: string; port: number; backlog?: number }): number {
  const make = () => {
    const fd = newSocket({ ...o, family: net.isIPv6(o.host) ? 6 : 4 });
    try {
      setInt(fd, n.SOL_SOCKET, n.SO_REUSEADDR, 1, 'SO_REUSEADDR');
      if (o.reusePort) setInt(fd, n.SOL_SOCKET, n.SO_REUSEPORT, 1, 'SO_REUSEPORT');
      const addr = encodeSockaddr(o.host, o.port);
      n.check(
        n.bind(fd, addr, addr.length),
        `bind(${o.host}:${o.port})`,
        'is another process already listening there?',
      );
      n.check(n.listen(fd, o.backlog ?? 511), 'listen');
      return fd;
    } catch (err) {
      n.close(fd);
      throw err;
    }
  };
  return o.netns ? inNetns(o.netns, make) : make();
}

/**
 * An unconnected TCP socket created in `o.netns`, optionally bound to `bindIp` (with
 * `transparent`, a non-local address such as the client's IP). Connect it with
 * `new net.Socket({ fd, allowHalfOpen: true }).connect(port, ip)`.
 */
export function connectSocket(o: SocketOptions & { bindIp?: string }): number {
  const make = () => {
    const fd = newSocket({ ...o, family: o.bindIp && net.isIPv6(o.bindIp) ? 6 : (o.family ?? 4) });
    try {
      if (o.bindIp) {
        const addr = encodeSockaddr(o.bindIp, 0);
        n.check(
          n.bind(fd, addr, addr.length),
          `bind(${o.bindIp})`,
          o.transparent ? 'IP_TRANSPARENT needs CAP_NET_ADMIN' : undefined,
        );
      }
      return fd;
    } catch (err) {
      n.close(fd);
      throw err;
    }
  };
  return o.netns ? inNetns(o.netns, make) : make();
}

/** Creates a connecting net.Socket in a namespace (the pattern that works: koffi socket, Node connect). */
export function connectInNetns(
  o: SocketOptions & { bindIp?: string; host: string; port: number },
): net.Socket {
  const fd = connectSocket(o);
  const sock = new net.Socket({ fd, allowHalfOpen: true, readable: true, writable: true });
  // Tunnels carry small request/response writes: never hold them for Nagle.
  sock.setNoDelay(true);
  sock.connect({ host: o.host, port: o.port });
  return sock;
}

/** The original destination of a REDIRECTed connection (SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST). */
export function originalDst(s: net.Socket): SockaddrParts {
  const fd = fdOf(s);
  const v6 =
    s.localAddress !== undefined && net.isIPv6(s.localAddress) && !s.localAddress.startsWith('::ffff:');
  const buf = Buffer.alloc(v6 ? 28 : 16);
  const len = [buf.length];
  n.check(
    n.getsockopt(fd, v6 ? n.SOL_IPV6 : n.SOL_IP, n.SO_ORIGINAL_DST, buf, len),
    'getsockopt(SO_ORIGINAL_DST)',
    'was the connection redirected by iptables?',
  );
  return decodeSockaddr(buf);
}

/** Identity (device:inode) of the network namespace at a path, e.g. /var/run/netns/pod-a. */
export function netnsId(nsPath: string): string {
  const st = statSync(nsPath);
  return `${st.dev}:${st.ino}`;
}

/** Identity of the network namespace a socket lives in (ioctl SIOCGSKNS). */
export function socketNetnsId(fd: number): string {
  const nsFd = n.check(n.ioctlInt(fd, n.SIOCGSKNS, 0), 'ioctl(SIOCGSKNS)');
  try {
    const st = fstatSync(nsFd);
    return `${st.dev}:${st.ino}`;
  } finally {
    closeSync(nsFd);
  }
}
