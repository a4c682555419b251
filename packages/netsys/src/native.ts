// libc through koffi — the few syscalls Node has no API for (shared spec
// capture-from-node.md, constants table). Nothing else in the project calls native code.
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_STREAM = 1;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_REUSEPORT = 15;
export const SO_MARK = 36;
export const SOL_IP = 0;
export const SOL_IPV6 = 41;
export const IP_TRANSPARENT = 19;
export const IPV6_TRANSPARENT = 75;
export const IPV6_V6ONLY = 26;
/** SO_ORIGINAL_DST (linux/netfilter_ipv4.h) and IP6T_SO_ORIGINAL_DST share the number. */
export const SO_ORIGINAL_DST = 80;
export const CLONE_NEWNET = 0x40000000;
/** ioctl: a file descriptor for the socket's network namespace (linux/sockios.h). */
export const SIOCGSKNS = 0x894c;

export const socket = libc.func('int socket(int domain, int type, int protocol)');
export const bind = libc.func('int bind(int fd, const void *addr, uint32_t len)');
export const listen = libc.func('int listen(int fd, int backlog)');
export const close = libc.func('int close(int fd)');
export const setsockopt = libc.func(
  'int setsockopt(int fd, int level, int name, const void *val, uint32_t len)',
);
export const getsockopt = libc.func(
  'int getsockopt(int fd, int level, int name, _Out_ void *val, _Inout_ uint32_t *len)',
);
export const setns = libc.func('int setns(int fd, int nstype)');
export const ioctlInt = libc.func('int ioctl(int fd, unsigned long request, int arg)');
export const strerror = libc.func('const char *strerror(int errnum)');

export function errno(): number {
  return koffi.errno();
}

export class NetsysError extends Error {
  readonly code = 'NETSYS';
  constructor(
    readonly call: string,
    readonly errnum: number,
    hint?: string,
  ) {
    super(`${call} failed: ${strerror(errnum)} (errno ${errnum})${hint ? ` — ${hint}` : ''}`);
  }
}

/** Throws NetsysError when a libc call returned -1. */
export function check(result: number, call: string, hint?: string): number {
  if (result < 0) throw new NetsysError(call, errno(), hint);
  return result;
}
