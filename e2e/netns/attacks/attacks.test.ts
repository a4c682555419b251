// The attack matrix on the in-box cluster (issue: nobody gets in who shouldn't). Every cell is
// one attempt from the `intruder` pod — an enrolled workload with its own mesh identity
// (bookinfo/intruder) — against one listener with one credential, made by a peer written from
// the spec (attacker.mjs: Node's TLS and HTTP/2, any certificate or none, any header), and
// asserts the refusal a user would check. The findings this suite pins were all reproduced
// against the tree before their fixes: a CA that issued any identity without a token, an open
// xDS server and debug port, a waypoint that enforced nothing on TCP ports, a waypoint that
// believed a peer's `forwarded: for=`.
//
// The pods: `intruder` (enrolled, bookinfo/intruder) for the control plane; `outsider` (not
// enrolled) for raw HBONE with whatever certificate the cell names.
//
// Cells covered elsewhere: a pod reaching its own 15001/15006 (capture.test.ts "no loops");
// path encodings, header sanitisation and X-Forwarded-For (apps/waypoint/test/
// request-sanitizing.test.ts, real sockets on loopback); tokens forged, expired and misused
// on both xDS ports and the CA (apps/controller/test/credentials.test.ts).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CertificateAuthority,
  createCsr,
  generateEcKey,
  Identity,
  TOKEN_KEY_FILE,
  TokenIssuer,
} from '@ambient/mtls';
import { CONTROL_PLANE_IP, mintTokenFile, netnsGate, testkitCli, ztunnelSubject } from '@ambient/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VIP, WaypointLab } from '../waypoint-lab.js';

const gate = await netnsGate('e2e/netns attacks');
const ATTACKER = fileURLToPath(new URL('./attacker.mjs', import.meta.url));
const CONTROLLER = `${CONTROL_PLANE_IP}:15012`;

interface Credential {
  cert?: string;
  key?: string;
}

describe.skipIf(!gate.run)('attack matrix: every listener × every credential', () => {
  const w = new WaypointLab();
  const creds: Record<string, Credential> = {};
  const tokens: Record<string, string> = {};
  let credDir: string;

  /**
   * One attacker attempt; the JSON it printed. Control-plane calls leave the `intruder` pod
   * (an enrolled workload); raw HBONE and plaintext attempts leave `outsider`, a pod outside the
   * mesh holding stolen or forged credentials (an enrolled pod's own 15008 dials would be
   * captured by its ztunnel first).
   */
  async function attack(cmd: string, args: Record<string, unknown>): Promise<Record<string, unknown>> {
    const from = cmd === 'hbone' || cmd === 'plain' ? 'outsider' : 'intruder';
    const r = await w.lab.exec(from, process.execPath, [ATTACKER, cmd, JSON.stringify(args)], {
      timeoutMs: 20_000,
      allowFailure: true,
    });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      return { error: `no answer (${r.stderr.trim().slice(0, 200)})` };
    }
  }

  async function httpGet(
    from: string,
    url: string,
  ): Promise<{ ok: boolean; status?: number; body?: string }> {
    const r = await w.lab.exec(
      from,
      process.execPath,
      [testkitCli, 'http-get', url, '--timeout-ms', '2000'],
      {
        allowFailure: true,
      },
    );
    if (r.code !== 0) return { ok: false };
    const j = JSON.parse(r.stdout) as { status: number; body: unknown };
    return { ok: true, status: j.status, body: typeof j.body === 'string' ? j.body : JSON.stringify(j.body) };
  }

  /** What the client pod gets back sending `data` to the TCP service through the mesh. */
  async function tcpSendFromClient(data: string): Promise<string> {
    const r = await w.lab.exec(
      'client',
      process.execPath,
      [testkitCli, 'tcp-send', VIP.tcpdb!, '9080', '--data', data, '--timeout-ms', '3000'],
      { allowFailure: true },
    );
    return r.stdout;
  }

  /** A certificate for `id` signed by `ca`, written as PEM files the attacker reads. */
  function certFile(
    name: string,
    ca: CertificateAuthority,
    id: Identity,
    opts: { expired?: boolean } = {},
  ): Credential {
    const key = generateEcKey();
    const chain = ca.sign(
      createCsr(id.toString(), key),
      id,
      opts.expired ? { ttlSeconds: 600, notBefore: new Date(Date.now() - 3600_000) } : {},
    );
    const cert = path.join(credDir, `${name}.crt`);
    const keyFile = path.join(credDir, `${name}.key`);
    writeFileSync(cert, chain.slice(0, -1).join(''));
    writeFileSync(keyFile, key.privateKeyPem, { mode: 0o600 });
    return { cert, key: keyFile };
  }

  beforeAll(async () => {
    await w.start();
    credDir = path.join(w.dir, 'attacker');
    mkdirSync(credDir, { recursive: true });
    const meshCa = await CertificateAuthority.loadOrCreate(w.caDir);
    const otherRoot = await CertificateAuthority.loadOrCreate(path.join(w.dir, 'other-root'));
    const intruder = new Identity('cluster.local', 'bookinfo', 'intruder');
    creds.none = {};
    creds.intruder = certFile('intruder', meshCa, intruder);
    creds['other trust domain'] = certFile(
      'other-td',
      meshCa,
      new Identity('evil.local', 'bookinfo', 'sleep'),
    );
    creds['other root'] = certFile(
      'other-root',
      otherRoot,
      new Identity('cluster.local', 'bookinfo', 'sleep'),
    );
    creds.expired = certFile('expired', meshCa, new Identity('cluster.local', 'bookinfo', 'sleep'), {
      expired: true,
    });
    // Tokens: the intruder's own, a node agent's for the other node, one from another signer, an expired one.
    tokens.intruder = await mintTokenFile(w.caDir, { namespace: 'bookinfo', serviceAccount: 'intruder' });
    tokens['node2 agent'] = await mintTokenFile(w.caDir, ztunnelSubject('node2'));
    const forged = await TokenIssuer.loadOrCreate(path.join(w.dir, 'other-token-key.pem')).sign(
      ztunnelSubject('node1'),
      3600,
    );
    tokens.forged = path.join(credDir, 'forged.token');
    writeFileSync(tokens.forged, forged);
    const expired = await TokenIssuer.load(path.join(w.caDir, TOKEN_KEY_FILE)).sign(
      ztunnelSubject('node1'),
      -60,
    );
    tokens.expired = path.join(credDir, 'expired.token');
    writeFileSync(tokens.expired, expired);
  }, 180_000);
  afterAll(async () => {
    await w.stop();
  }, 60_000);

  // ---- 15012: the CA ----

  it('15012 CA: no token, a forged or expired token → UNAUTHENTICATED; the intruder gets only itself', async () => {
    const root = path.join(w.caDir, 'root-cert.pem');
    const ask = (identity: string, token: string | undefined, impersonate: boolean) =>
      attack('ca', { address: CONTROLLER, root, identity, ...(token ? { token } : {}), impersonate });
    const sleep = 'spiffe://cluster.local/ns/bookinfo/sa/sleep';
    // Finding 1: before the fix, no token was needed and this was issued.
    expect((await ask(sleep, undefined, false)).result).toMatch(/UNAUTHENTICATED.*no bearer token/);
    expect((await ask(sleep, tokens.forged, true)).result).toMatch(/UNAUTHENTICATED.*token rejected/);
    expect((await ask(sleep, tokens.expired, true)).result).toMatch(/UNAUTHENTICATED.*token expired/);
    expect((await ask(sleep, tokens.intruder, false)).result).toMatch(/PERMISSION_DENIED.*may not obtain/);
    expect((await ask(sleep, tokens.intruder, true)).result).toMatch(/PERMISSION_DENIED/);
    expect((await ask('spiffe://cluster.local/ns/bookinfo/sa/intruder', tokens.intruder, false)).result).toBe(
      'issued spiffe://cluster.local/ns/bookinfo/sa/intruder',
    );
  }, 60_000);

  it("15012 CA: a node agent's token for node2 cannot impersonate a pod that runs on node1", async () => {
    const root = path.join(w.caDir, 'root-cert.pem');
    // sleep (the client pod) runs on node1; reviews runs on node2.
    const onNode1 = await attack('ca', {
      address: CONTROLLER,
      root,
      identity: 'spiffe://cluster.local/ns/bookinfo/sa/sleep',
      token: tokens['node2 agent'],
      impersonate: true,
    });
    expect(onNode1.result).toMatch(/PERMISSION_DENIED.*no pod of .*sleep on node node2/);
    const onNode2 = await attack('ca', {
      address: CONTROLLER,
      root,
      identity: 'spiffe://cluster.local/ns/bookinfo/sa/reviews',
      token: tokens['node2 agent'],
      impersonate: true,
    });
    expect(onNode2.result).toBe('issued spiffe://cluster.local/ns/bookinfo/sa/reviews');
  }, 60_000);

  // ---- 15012: xDS ----

  it('15012 xDS: nothing is served without a valid token, nor to a token posing as another proxy', async () => {
    const root = path.join(w.caDir, 'root-cert.pem');
    const meta = { NAMESPACE: 'ambient-system', NODE_NAME: 'node1' };
    const sub = (token: string | undefined, metadata = meta) =>
      attack('xds', { address: CONTROLLER, root, metadata, ...(token ? { token } : {}) });
    // Finding 2: before the fix this downloaded every workload, service and policy.
    expect(await sub(undefined)).toEqual({ error: expect.stringMatching(/no bearer token/) });
    expect(await sub(tokens.forged)).toEqual({ error: expect.stringMatching(/token rejected/) });
    expect(await sub(tokens.expired)).toEqual({ error: expect.stringMatching(/token expired/) });
    expect(await sub(tokens.intruder)).toEqual({
      error: expect.stringMatching(/may not connect as a proxy of namespace ambient-system/),
    });
    expect(await sub(tokens['node2 agent'])).toEqual({
      error: expect.stringMatching(/may not connect as the proxy of node node1/),
    });
    // The legitimate case still works (the matrix can tell the two apart).
    const ok = await sub(tokens['node2 agent'], { NAMESPACE: 'ambient-system', NODE_NAME: 'node2' });
    expect(ok.addresses).toBeGreaterThan(10);
  }, 60_000);

  // ---- 15014: the controller's debug port ----

  it('15014: the debug views refuse a pod; metrics, readiness and the public root answer', async () => {
    const base = `http://${CONTROL_PLANE_IP}:15014`;
    for (const p of ['/debug/syncz', '/debug/config'])
      expect((await httpGet('intruder', `${base}${p}`)).status, p).toBe(403);
    const root = await httpGet('intruder', `${base}/debug/root-cert`);
    expect(root.status).toBe(200);
    expect(root.body).toContain('BEGIN CERTIFICATE');
    expect((await httpGet('intruder', `${base}/metrics`)).status).toBe(200);
  }, 30_000);

  // ---- admin ports: 15000 of ztunnel (node) and of the waypoint (pod) ----

  it("15000: ztunnel's and the waypoint's admin ports are loopback-only; 15020/15021 answer without secrets", async () => {
    const node1 = w.lab.plan.nodes.find((n) => n.name === 'node1')!;
    const targets = [
      `http://${node1.gatewayIp}:15000/config_dump`,
      `http://${node1.underlayIp}:15000/config_dump`,
      `http://${w.pod('waypoint').ip}:15000/config_dump`,
    ];
    for (const url of targets) expect((await httpGet('intruder', url)).ok, url).toBe(false);
    for (const url of [
      `http://${w.pod('waypoint').ip}:15020/stats/prometheus`,
      `http://${node1.gatewayIp}:15020/stats/prometheus`,
      `http://${w.pod('waypoint').ip}:15021/healthz/ready`,
      `http://${node1.gatewayIp}:15021/healthz/ready`,
    ]) {
      const r = await httpGet('intruder', url);
      expect(r.status, url).toBe(200);
      expect(r.body, url).not.toMatch(/PRIVATE KEY|eyJ[A-Za-z0-9_-]{10,}\./);
    }
  }, 30_000);

  // ---- 15008 of a destination pod (its ztunnel's inbound) ----

  describe("15008 of a pod (the destination ztunnel's inbound)", () => {
    const target = () => ({
      host: w.pod('reviews-v1').ip,
      port: 15008,
      authority: `${w.pod('reviews-v1').ip}:8080`,
    });
    const request = 'GET / HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n';

    it.each(['none', 'other root', 'expired'])('%s: the TLS handshake is refused', async (c) => {
      const r = await attack('hbone', { ...target(), ...creds[c], send: request });
      expect(r.status, JSON.stringify(r)).toBeUndefined();
      expect(JSON.stringify(r)).not.toContain('reviews-v1');
    });

    it('another trust domain, signed by the mesh root: refused before any CONNECT succeeds', async () => {
      const r = await attack('hbone', { ...target(), ...creds['other trust domain'], send: request });
      expect(r.status === undefined || r.status === 401, JSON.stringify(r)).toBe(true);
      expect(String(r.reply ?? '')).not.toContain('reviews-v1');
    });

    it('a valid workload certificate reaches the app — until an L4 policy denies it (401)', async () => {
      const before = await attack('hbone', { ...target(), ...creds.intruder, send: request });
      expect(before.status).toBe(200);
      expect(String(before.reply)).toContain('reviews-v1');
      await w.apply(
        'deny-intruder',
        `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-intruder, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews}}
  action: DENY
  rules: [{from: [{source: {principals: ["cluster.local/ns/bookinfo/sa/intruder"]}}]}]
`,
      );
      try {
        expect((await attack('hbone', { ...target(), ...creds.intruder, send: request })).status).toBe(401);
      } finally {
        await w.apply('deny-intruder', undefined);
      }
    }, 60_000);

    it("CONNECT authorities aimed at the node's or the pod's loopback are refused", async () => {
      for (const authority of [
        '127.0.0.1:15000',
        '127.0.0.1:15021',
        '127.0.0.1:8080',
        `${w.pod('ratings-1').ip}:8080`,
      ]) {
        const r = await attack('hbone', { ...target(), authority, ...creds.intruder, send: request });
        expect(r.status, `${authority}: ${JSON.stringify(r)}`).not.toBe(200);
      }
    });

    it('plaintext bytes to 15008 get no HTTP answer', async () => {
      const r = await attack('plain', { host: w.pod('reviews-v1').ip, port: 15008, send: request });
      expect(String(r.reply)).not.toContain('HTTP/1.1');
      expect(String(r.reply)).not.toContain('reviews-v1');
    });
  });

  // ---- app ports, from outside the mesh ----

  describe('an app port, from a pod outside the mesh (inbound plaintext, 15006)', () => {
    const request = 'GET / HTTP/1.1\r\nHost: reviews\r\nConnection: close\r\n\r\n';
    const app = () => ({ host: w.pod('reviews-v1').ip, port: 8080, send: request });

    it('reaches the app without STRICT; STRICT mTLS and identity-based ALLOWs refuse it', async () => {
      expect(String((await attack('plain', app())).reply)).toContain('reviews-v1');
      await w.apply(
        'strict',
        `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: bookinfo}
spec: {mtls: {mode: STRICT}}
`,
      );
      try {
        const r = await attack('plain', app());
        expect(String(r.reply)).not.toContain('reviews-v1');
      } finally {
        await w.apply('strict', undefined);
      }
    }, 60_000);

    it("a spoofed source IP gains nothing: the handshake's answer goes to the real owner of the address", async () => {
      const client = w.pod('client').ip;
      await w.lab.exec('outsider', 'ip', ['addr', 'add', `${client}/32`, 'dev', 'eth0']);
      await w.apply(
        'allow-client-ip-l4',
        `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-client-ip-l4, namespace: bookinfo}
spec:
  selector: {matchLabels: {app: reviews}}
  rules: [{from: [{source: {ipBlocks: ["${client}/32"]}}]}]
`,
      );
      try {
        const r = await attack('plain', { ...app(), localAddress: client });
        expect(r.bytes, JSON.stringify(r)).toBe(0);
      } finally {
        await w.apply('allow-client-ip-l4', undefined);
        await w.lab.exec('outsider', 'ip', ['addr', 'del', `${client}/32`, 'dev', 'eth0'], {
          allowFailure: true,
        });
      }
    }, 60_000);
  });

  // ---- 15008 of the waypoint ----

  describe('15008 of the waypoint', () => {
    const wp = () => ({ host: w.pod('waypoint').ip, port: 15008 });
    const get = (host: string) => `GET /api HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

    it.each(['none', 'other root', 'expired'])('%s: the TLS handshake is refused', async (c) => {
      const r = await attack('hbone', {
        ...wp(),
        authority: `${VIP.reviews}:9080`,
        ...creds[c],
        send: get('reviews'),
      });
      expect(r.status, JSON.stringify(r)).toBeUndefined();
    });

    it('a peer cannot choose the source IP policy sees: a forged `forwarded: for=` is not believed', async () => {
      const client = w.pod('client').ip;
      await w.apply(
        'allow-client-ip',
        `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-client-ip, namespace: bookinfo}
spec:
  targetRefs: [{kind: Service, group: "", name: details}]
  action: ALLOW
  rules: [{from: [{source: {ipBlocks: ["${client}/32"]}}]}]
`,
      );
      try {
        // The real client passes (through its own ztunnel)…
        expect((await w.load('details', { path: '/api' })).statuses).toEqual({ 200: 1 });
        // …the intruder, with its own valid certificate, claiming the client's address, does not.
        // Finding 5: before the fix this answered 200.
        const r = await attack('hbone', {
          ...wp(),
          authority: `${VIP.details}:9080`,
          headers: { forwarded: `for="${client}:40000"` },
          ...creds.intruder,
          send: get('details'),
        });
        expect(r.status).toBe(200); // the tunnel opens; the request inside it is judged
        expect(String(r.reply)).toMatch(/^HTTP\/1\.1 403/);
        expect((await w.load('details', { path: '/api', from: 'intruder' })).statuses).toEqual({ 403: 1 });
      } finally {
        await w.apply('allow-client-ip', undefined);
      }
    }, 60_000);

    it('a TCP port of a waypoint-bound service obeys its policies (spec: {} denies all)', async () => {
      const echo = (r: Record<string, unknown>) => String(r.reply ?? '');
      const before = await attack('hbone', {
        ...wp(),
        authority: `${VIP.tcpdb}:9080`,
        ...creds.intruder,
        send: 'ping',
      });
      expect(before.status).toBe(200);
      expect(echo(before)).toContain('ping');
      await w.apply(
        'tcpdb-deny-all',
        `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tcpdb-deny-all, namespace: bookinfo}
spec:
  targetRefs: [{kind: Service, group: "", name: tcpdb}]
`,
      );
      try {
        // Finding 3: before the fix the waypoint balanced this straight to the pod.
        const r = await attack('hbone', {
          ...wp(),
          authority: `${VIP.tcpdb}:9080`,
          ...creds.intruder,
          send: 'ping',
        });
        expect(r.status).toBe(401);
        // Through the mesh from the client pod: no echo either.
        expect(await tcpSendFromClient('ping')).not.toContain('ping');
        // An L4 ALLOW for the client's identity lets the client in and keeps the intruder out.
        await w.apply(
          'tcpdb-deny-all',
          `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tcpdb-allow-sleep, namespace: bookinfo}
spec:
  targetRefs: [{kind: Service, group: "", name: tcpdb}]
  rules: [{from: [{source: {principals: ["cluster.local/ns/bookinfo/sa/sleep"]}}]}]
`,
        );
        expect(await tcpSendFromClient('pong')).toContain('pong');
        expect(
          (await attack('hbone', { ...wp(), authority: `${VIP.tcpdb}:9080`, ...creds.intruder, send: 'x' }))
            .status,
        ).toBe(401);
      } finally {
        await w.apply('tcpdb-deny-all', undefined);
      }
    }, 60_000);

    it("CONNECT authorities aimed at the waypoint's loopback or at a pod directly are refused", async () => {
      for (const authority of ['127.0.0.1:15000', '127.0.0.1:15021', `${w.pod('ratings-1').ip}:8080`]) {
        const r = await attack('hbone', { ...wp(), authority, ...creds.intruder, send: get('x') });
        expect(r.status, `${authority}: ${JSON.stringify(r)}`).not.toBe(200);
      }
    });

    it('plaintext bytes to the waypoint 15008 get no HTTP answer', async () => {
      const r = await attack('plain', { ...wp(), send: get('reviews') });
      expect(String(r.reply)).not.toContain('HTTP/1.1');
    });
  });

  // ---- secrets ----

  it('secrets stay secret: no log line, config dump or debug view holds a private key or a token', async () => {
    const dumps = [
      await httpGet('waypoint', 'http://127.0.0.1:15000/config_dump'),
      await httpGet('node1', 'http://127.0.0.1:15000/config_dump'),
      await httpGet('underlay', 'http://127.0.0.1:15014/debug/config'),
      await httpGet('underlay', 'http://127.0.0.1:15014/debug/syncz'),
      await httpGet('underlay', 'http://127.0.0.1:15014/metrics'),
    ].map((r) => r.body ?? '');
    const logDir = path.resolve('test-logs', 'e2e-waypoint');
    const logs = readdirSync(logDir).map((f) => readFileSync(path.join(logDir, f), 'utf8'));
    const tokenDir = path.join(w.dir, 'tokens');
    const secrets = [
      ...readdirSync(tokenDir).map((f) => readFileSync(path.join(tokenDir, f), 'utf8').trim()),
      ...Object.values(tokens).map((f) => readFileSync(f, 'utf8').trim()),
    ];
    expect(secrets.length).toBeGreaterThan(4);
    for (const text of [...dumps, ...logs]) {
      expect(text).not.toMatch(/PRIVATE KEY/);
      for (const s of secrets) expect(text.includes(s)).toBe(false);
      // Any JWT-shaped string at all (header.payload.signature, base64url).
      expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}/);
    }
  }, 30_000);
});
