// Proxy credentials on the lab: the bearer tokens a files-mode controller accepts, minted
// with its signing key as `ambientctl token create` mints them (a node agent's token names
// its node). Written beside the CA directory with mode 0600, one file per holder.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { TOKEN_KEY_FILE, TokenIssuer, type TokenSubject } from '@ambient/mtls';

/** Writes a token for `subject` and returns the file's path (what AUTH_TOKEN takes). */
export async function mintTokenFile(
  caDir: string,
  subject: TokenSubject,
  ttlSeconds = 24 * 3600,
): Promise<string> {
  const issuer = TokenIssuer.loadOrCreate(path.join(caDir, TOKEN_KEY_FILE));
  const dir = path.join(path.dirname(caDir), 'tokens');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(
    dir,
    `${subject.namespace}.${subject.serviceAccount}${subject.node ? `.${subject.node}` : ''}.token`,
  );
  writeFileSync(file, await issuer.sign(subject, ttlSeconds), { mode: 0o600 });
  return file;
}

/** The subject of a node's ztunnel token (the DaemonSet's service account, bound to the node). */
export function ztunnelSubject(node: string): TokenSubject {
  return { namespace: 'ambient-system', serviceAccount: 'ztunnel', node };
}
