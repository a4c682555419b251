// The peer of the L4 benchmarks: a stunnel4 mutual-TLS 1.3 pair (the C/OpenSSL reference),
// with EC P-256 certificates from one of our CAs so both sides verify each other's chain.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { issueBenchCert } from './certs.mjs';

/**
 * Starts the pair. `services` are [name, accept, connect] per side; each side may run in a
 * network namespace; `ready` is each side's readiness ({ tcp, host? }).
 */
export async function startStunnelPair(sup, { dir, ca, client, server }) {
  mkdirSync(dir, { recursive: true });
  const certs = {
    client: issueBenchCert(ca, dir, 'stunnel-client'),
    server: issueBenchCert(ca, dir, 'stunnel-server'),
  };
  const start = async (name, side) => {
    const conf = [
      'foreground = yes',
      'pid =',
      'debug = 3',
      ...side.services.flatMap(([svc, accept, connect]) => [
        `[${svc}]`,
        `client = ${name === 'client' ? 'yes' : 'no'}`,
        `accept = ${accept}`,
        `connect = ${connect}`,
        `cert = ${certs[name].files.cert}`,
        `key = ${certs[name].files.key}`,
        `CAfile = ${certs[name].files.root}`,
        'verifyChain = yes',
        'sslVersionMin = TLSv1.3',
        'sslVersionMax = TLSv1.3',
      ]),
    ].join('\n');
    writeFileSync(path.join(dir, `${name}.conf`), conf);
    return sup.start({
      name: `stunnel-${name}`,
      command: 'stunnel4',
      args: [path.join(dir, `${name}.conf`)],
      ...(side.netns ? { netns: side.netns } : {}),
      ready: side.ready,
    });
  };
  const serverChild = await start('server', server);
  const clientChild = await start('client', client);
  return { client: clientChild, server: serverChild };
}
