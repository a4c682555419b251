// `ambientctl demo` — the demo mesh on an in-box cluster of network namespaces: the
// controller (files mode, examples/demo/) in the underlay's namespace, one ztunnel per node
// with in-pod capture, a bookinfo-like app in an enrolled namespace, and one pod outside the
// mesh. It drives traffic and shows what the mesh did, with the evidence for each item.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type Child,
  CONTROL_PLANE_IP,
  Lab,
  labSupported,
  podManifest,
  Supervisor,
  startLabController,
  startLabZtunnel,
  testkitCli,
} from '@ambient/testkit';
import { table } from '../output.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const EXAMPLES = path.join(ROOT, 'examples', 'demo');
const CONTROLLER = path.join(ROOT, 'apps', 'controller', 'dist', 'main.js');
const ZTUNNEL = path.join(ROOT, 'apps', 'ztunnel', 'dist', 'main.js');
const PREFIX = 'amb-demo';

const PODS = [
  {
    name: 'productpage-v1',
    ns: 'bookinfo',
    node: 'node1',
    sa: 'bookinfo-productpage',
    app: 'productpage',
    version: 'v1',
  },
  {
    name: 'reviews-v1',
    ns: 'bookinfo',
    node: 'node1',
    sa: 'bookinfo-reviews',
    app: 'reviews',
    version: 'v1',
  },
  {
    name: 'reviews-v2',
    ns: 'bookinfo',
    node: 'node2',
    sa: 'bookinfo-reviews',
    app: 'reviews',
    version: 'v2',
  },
  {
    name: 'ratings-v1',
    ns: 'bookinfo',
    node: 'node2',
    sa: 'bookinfo-ratings',
    app: 'ratings',
    version: 'v1',
  },
  { name: 'sleep', ns: 'outside', node: 'node1', sa: 'sleep', app: 'sleep', version: 'v1' },
] as const;

type Step = (msg: string) => { done(extra?: string): void; fail(err: unknown): void };

const step: Step = (msg) => {
  const t0 = Date.now();
  process.stdout.write(`• ${msg} … `);
  return {
    done: (extra) => process.stdout.write(`ok${extra ? ` — ${extra}` : ''} (${Date.now() - t0} ms)\n`),
    fail: (err) => process.stdout.write(`FAILED: ${(err as Error).message}\n`),
  };
};

export interface DemoOptions {
  once: boolean;
}

export async function runDemo(o: DemoOptions): Promise<number> {
  const support = await labSupported();
  if (!support.ok) {
    console.error(
      `The demo builds a cluster of Linux network namespaces: ${support.reason}.\nRun it as root: sudo npm run demo`,
    );
    return 1;
  }
  for (const f of [CONTROLLER, ZTUNNEL])
    if (!existsSync(f)) throw new Error(`${f} is missing: run npx turbo run build`);
  const dir = mkdtempSync(path.join(tmpdir(), 'ambient-demo-'));
  const configDir = path.join(dir, 'config');
  const sup = new Supervisor(path.join(dir, 'logs'));
  let lab: Lab | undefined;
  const cleanup = async () => {
    await sup.stopAll(3000);
    await lab?.destroy();
  };
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    process.stdout.write('\n• stopping the demo and removing its namespaces …\n');
    void cleanup().then(() => process.exit(0));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    console.log('ambient demo — an Istio-style ambient mesh on an in-box cluster of network namespaces\n');
    let s = step('building the cluster: 2 nodes, 5 pods (namespace bookinfo in the mesh, outside not)');
    lab = await Lab.create({
      prefix: PREFIX,
      nodes: ['node1', 'node2'].map((node) => ({
        name: node,
        pods: PODS.filter((p) => p.node === node).map((p) => ({ name: p.name, namespace: p.ns })),
      })),
    });
    const L = lab;
    s.done();

    s = step(`starting the controller on ${CONTROL_PLANE_IP} (files mode: examples/demo/)`);
    mkdirSync(configDir, { recursive: true });
    for (const f of readdirSync(EXAMPLES).filter((f) => f.endsWith('.yaml')))
      copyFileSync(path.join(EXAMPLES, f), path.join(configDir, f));
    writeFileSync(path.join(configDir, 'pods.yaml'), podsYaml(L));
    await startLabController(sup, L, {
      entry: CONTROLLER,
      configDir,
      caDir: path.join(dir, 'ca'),
      env: { AMBIENT_DEBOUNCE_MS: '50' },
    });
    s.done();

    s = step('starting ztunnel on each node (in-pod capture, certificates from the controller CA)');
    const ztunnels: Record<string, Child> = {};
    for (const node of ['node1', 'node2']) {
      ztunnels[node] = await startLabZtunnel(sup, L, node, { entry: ZTUNNEL, caDir: path.join(dir, 'ca') });
    }
    s.done();

    s = step('starting the apps (an HTTP echo in every pod)');
    for (const p of PODS) {
      await sup.start({
        name: `app-${p.name}`,
        command: process.execPath,
        args: [testkitCli, 'http-echo', '--port', '8080', '--name', p.name],
        netns: L.pod(p.name).netns,
        ready: { tcp: 8080 },
      });
    }
    s.done();

    const get = async (from: string, url: string, headers: Record<string, string> = {}) => {
      const args = [
        testkitCli,
        'http-get',
        url,
        '--timeout-ms',
        '4000',
        ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]),
      ];
      const r = await L.exec(from, process.execPath, args, { allowFailure: true });
      if (r.code !== 0) return undefined;
      return JSON.parse(r.stdout) as { status: number; body: { pod: string; source: { address: string } } };
    };
    const logs = async (node: string) =>
      (await ztunnels[node]!.output())
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, string | number>);
    const applied = async (file: string) => {
      copyFileSync(path.join(EXAMPLES, 'steps', file), path.join(configDir, file));
      await new Promise((r) => setTimeout(r, 1500));
    };

    console.log('\n── 1. productpage → reviews, by the service address (10.96.0.11:9080), 20 calls');
    const answered: Record<string, number> = {};
    let sourceKept = true;
    for (let i = 0; i < 20; i++) {
      const r = await get('productpage-v1', 'http://10.96.0.11:9080/reviews');
      const pod = r?.body.pod ?? 'failed';
      answered[pod] = (answered[pod] ?? 0) + 1;
      if (r && r.body.source.address !== L.pod('productpage-v1').ip) sourceKept = false;
    }
    console.log(
      `   answered by: ${Object.entries(answered)
        .map(([k, v]) => `${k} ×${v}`)
        .join(', ')}`,
    );
    console.log(
      `   the apps saw the caller's own pod IP (${L.pod('productpage-v1').ip}): ${sourceKept ? 'yes' : 'no'}`,
    );

    console.log('\n── 2. identities on each hop (ztunnel access logs)');
    const lastOf = (lines: Record<string, string | number>[], direction: string) =>
      lines
        .filter(
          (l) =>
            l.message === 'connection complete' &&
            l.direction === direction &&
            String(l['dst.hbone_addr'] ?? '').endsWith(':8080'),
        )
        .slice(-1);
    const hops = [...lastOf(await logs('node1'), 'outbound'), ...lastOf(await logs('node2'), 'inbound')].map(
      (l) => ({
        ztunnel: l.direction === 'outbound' ? 'node1 (source)' : 'node2 (destination)',
        from: l['src.identity'],
        to: l['dst.identity'],
        tunnel: `${l['dst.addr']} → ${l['dst.hbone_addr']}`,
      }),
    );
    process.stdout.write(indent(table(hops)));

    console.log('── 3. on the wire between the nodes');
    const pcap = path.join(dir, 'underlay.pcap');
    let wireLine = '   (tcpdump is not installed: skipped)';
    try {
      const dump = await sup.start({
        name: 'tcpdump',
        command: 'tcpdump',
        args: ['-i', 'eth0', '--immediate-mode', '-U', '-w', pcap, 'tcp'],
        netns: L.node('node1').netns,
        ready: { log: /listening on/ },
      });
      const secret = 'card-number-4111-demo';
      await get('productpage-v1', 'http://10.96.0.11:9080/checkout', { 'x-secret': secret });
      await new Promise((r) => setTimeout(r, 300));
      await dump.stop();
      const bytes = readFileSync(pcap);
      wireLine = `   a request header "${secret}" crossed the underlay ${bytes.includes(Buffer.from(secret)) ? 'IN CLEAR' : 'encrypted (HBONE: mutual TLS 1.3) — never in clear'} (${bytes.length} bytes captured)`;
    } catch (err) {
      wireLine = `   (packet capture failed: ${(err as Error).message})`;
    }
    console.log(wireLine);

    console.log('\n── 4. a call refused by policy: ratings allows only the reviews service account');
    console.log(
      '   applying examples/demo/steps/ratings-policy.yaml (AuthorizationPolicy, ALLOW from bookinfo-reviews)',
    );
    await applied('ratings-policy.yaml');
    const fromReviews = await get('reviews-v2', 'http://10.96.0.12:9080/ratings');
    const fromProductpage = await get('productpage-v1', 'http://10.96.0.12:9080/ratings');
    console.log(
      `   reviews-v2     → ratings: ${fromReviews ? `allowed (${fromReviews.status})` : 'refused'}`,
    );
    console.log(
      `   productpage-v1 → ratings: ${fromProductpage ? `allowed (${fromProductpage.status})` : 'refused'}`,
    );
    const denied = (await logs('node2')).filter((l) => l.response_flags === 'DENY').slice(-1)[0];
    if (denied) console.log(`   ztunnel on node2 logged: ${denied.error} (src ${denied['src.identity']})`);

    console.log('\n── 5. mutual TLS required: PeerAuthentication STRICT on bookinfo');
    const target = L.pod('productpage-v1').ip;
    const plainBefore = await get('sleep', `http://${target}:8080/`);
    await applied('strict-mtls.yaml');
    const plainAfter = await get('sleep', `http://${target}:8080/`);
    console.log(
      `   outside/sleep (not in the mesh) → productpage, before: ${plainBefore ? 'allowed' : 'refused'}; after STRICT: ${plainAfter ? 'allowed' : 'refused'}`,
    );

    console.log('\n── 6. metrics (Istio names)');
    const stats = await L.exec(
      'node2',
      process.execPath,
      [testkitCli, 'http-get', 'http://127.0.0.1:15020/metrics'],
      { allowFailure: true },
    );
    const text = JSON.parse(stats.stdout || '{"body":""}').body as string;
    const opened = (text.match(/^istio_tcp_connections_opened_total\{.*\} (\d+)/gm) ?? []).length;
    const deniedSeries = (
      text.match(/^istio_tcp_connections_opened_total\{[^}]*response_flags="DENY"[^}]*\} (\d+)/gm) ?? []
    ).length;
    console.log(
      `   node2: istio_tcp_connections_opened_total has ${opened} series, ${deniedSeries} with response_flags="DENY"`,
    );
    console.log(
      "   each ztunnel serves /metrics on :15020 and /config_dump on :15000 inside its node's namespace",
    );

    console.log(
      '\n── not in this demo yet: canary splits, fault injection and retries need the waypoint (L7 proxy), which is not built yet.',
    );

    if (o.once) {
      console.log('\n• done (--once): removing the cluster …');
      await cleanup();
      return 0;
    }
    console.log(`\nThe mesh keeps running. Try, in another terminal (as root):
  npx ambientctl ztunnel-config workloads --netns ${L.node('node1').netns}
  npx ambientctl ztunnel-config certificates --netns ${L.node('node2').netns}
  npx ambientctl proxy-status --netns ${L.plan.underlayNetns} --controller ${CONTROL_PLANE_IP}:15014
  sudo ip netns exec ${L.pod('productpage-v1').netns} node ${testkitCli} http-get http://10.96.0.11:9080/
Configuration: ${configDir} (edit or add Istio YAML; changes apply within a second)
Logs: ${path.join(dir, 'logs')}
Press Ctrl-C to stop and remove everything.`);
    await new Promise(() => {}); // until a signal
    return 0;
  } catch (err) {
    console.error(
      `\ndemo failed: ${(err as Error).stack ?? (err as Error).message}\nlogs: ${path.join(dir, 'logs')}`,
    );
    await cleanup();
    return 1;
  } finally {
    if (o.once) rmSync(dir, { recursive: true, force: true });
  }
}

function podsYaml(lab: Lab): string {
  return `${PODS.map((p) => podManifest(lab.pod(p.name), { serviceAccount: p.sa, labels: { app: p.app, version: p.version } })).join('\n---\n')}\n`;
}

function indent(s: string): string {
  return `${s
    .split('\n')
    .map((l) => (l ? `   ${l}` : l))
    .join('\n')}\n`;
}
