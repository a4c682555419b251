// `ambientctl token create`: the token it prints is what the files-mode controller accepts —
// verified here with the controller's own verifier and key; bad arguments are refused by name.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOKEN_KEY_FILE, TokenIssuer } from '@ambient/mtls';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const caDir = mkdtempSync(path.join(tmpdir(), 'cli-token-'));

describe('ambientctl token create', () => {
  it("mints a node agent's token the controller verifies, bound to its node", async () => {
    const token = execFileSync(
      process.execPath,
      [
        CLI,
        'token',
        'create',
        '--ca-dir',
        caDir,
        '--service-account',
        'ambient-system/ztunnel',
        '--node',
        'node1',
      ],
      { encoding: 'utf8' },
    ).trim();
    expect(statSync(path.join(caDir, TOKEN_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(await TokenIssuer.load(path.join(caDir, TOKEN_KEY_FILE)).review(token)).toEqual({
      authenticated: true,
      username: 'system:serviceaccount:ambient-system:ztunnel',
      nodeName: 'node1',
    });
  });

  it('--out writes the token with mode 0600 and prints nothing secret', async () => {
    const out = path.join(caDir, 'waypoint.token');
    const r = spawnSync(
      process.execPath,
      [
        CLI,
        'token',
        'create',
        '--ca-dir',
        caDir,
        '--service-account',
        'bookinfo/waypoint',
        '--duration',
        '1h',
        '--out',
        out,
      ],
      { encoding: 'utf8' },
    );
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('');
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const token = readFileSync(out, 'utf8').trim();
    expect(r.stderr).not.toContain(token);
    expect(await TokenIssuer.load(path.join(caDir, TOKEN_KEY_FILE)).review(token)).toMatchObject({
      authenticated: true,
      username: 'system:serviceaccount:bookinfo:waypoint',
    });
  });

  it.each([
    [['--service-account', 'ztunnel'], /--service-account "ztunnel": expected <namespace>\/<name>/],
    [['--service-account', 'a/b', '--duration', 'forever'], /--duration "forever"/],
    [['--service-account', 'a/b', '--node', 'Node_1'], /--node "Node_1": not a node name/],
  ])('refuses %j', (args, message) => {
    const r = spawnSync(process.execPath, [CLI, 'token', 'create', '--ca-dir', caDir, ...args], {
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
