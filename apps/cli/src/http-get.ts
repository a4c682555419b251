// GET a proxy's admin / debug endpoint — from this namespace, or from inside another network
// namespace (the lab's nodes), with a socket created there by @ambient/netsys.
import http from 'node:http';
import { connectInNetns } from '@ambient/netsys';

export async function getJson<T>(url: string, netns?: string): Promise<T> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: Number(u.port || 80),
        path: `${u.pathname}${u.search}`,
        timeout: 5000,
        ...(netns
          ? {
              createConnection: () =>
                connectInNetns({ netns: netnsPath(netns), host: u.hostname, port: Number(u.port || 80) }),
            }
          : {}),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => {
          if (res.statusCode !== 200)
            return reject(new Error(`${url} answered ${res.statusCode}: ${body.trim()}`));
          try {
            resolve(JSON.parse(body) as T);
          } catch {
            resolve(body as T);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url} did not answer in 5 s`)));
    req.on('error', (err) =>
      reject(new Error(`cannot reach ${url}${netns ? ` in netns ${netns}` : ''}: ${err.message}`)),
    );
    req.end();
  });
}

export function netnsPath(name: string): string {
  return name.startsWith('/') ? name : `/var/run/netns/${name}`;
}
