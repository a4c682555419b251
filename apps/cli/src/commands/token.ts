// `ambientctl token create`: the credential of a proxy in files mode. The files-mode
// controller verifies tokens signed with its key (`<ca-dir>/token-signing-key.pem`); a node
// agent's token names its node, and the CA then issues it only the identities of pods
// scheduled on that node — Kubernetes' bound service-account tokens, without an API server.
// The token is printed once (or written to a file with mode 0600) and never logged.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { duration, durationMs } from '@ambient/model';
import { TOKEN_KEY_FILE, TokenIssuer } from '@ambient/mtls';

export interface TokenCreateOptions {
  caDir: string;
  keyFile?: string;
  serviceAccount: string;
  node?: string;
  duration: string;
  outFile?: string;
}

const NAME = /^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;

export async function tokenCreate(o: TokenCreateOptions): Promise<number> {
  const [namespace, serviceAccount, ...rest] = o.serviceAccount.split('/');
  if (
    !namespace ||
    !serviceAccount ||
    rest.length > 0 ||
    !NAME.test(namespace) ||
    !NAME.test(serviceAccount)
  ) {
    console.error(
      `ambientctl: --service-account ${JSON.stringify(o.serviceAccount)}: expected <namespace>/<name>`,
    );
    return 2;
  }
  if (o.node !== undefined && !NAME.test(o.node)) {
    console.error(`ambientctl: --node ${JSON.stringify(o.node)}: not a node name`);
    return 2;
  }
  const ms = duration.safeParse(o.duration).success ? durationMs(o.duration) : 0;
  if (ms < 60_000) {
    console.error(
      `ambientctl: --duration ${JSON.stringify(o.duration)}: expected a duration of at least 1m (e.g. 24h)`,
    );
    return 2;
  }
  const issuer = TokenIssuer.loadOrCreate(o.keyFile ?? path.join(o.caDir, TOKEN_KEY_FILE));
  const token = await issuer.sign(
    { namespace, serviceAccount, ...(o.node ? { node: o.node } : {}) },
    Math.floor(ms / 1000),
  );
  if (o.outFile) {
    writeFileSync(o.outFile, `${token}\n`, { mode: 0o600 });
    console.error(
      `wrote a token for ${namespace}/${serviceAccount}${o.node ? ` on node ${o.node}` : ''} to ${o.outFile}`,
    );
  } else process.stdout.write(`${token}\n`);
  return 0;
}
