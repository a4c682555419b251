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
  allProxiesAcked,
  type Child,
  CONTROL_PLANE_IP,
  Lab,
  labSupported,
  podManifest,
  Supervisor,
  startLabController,
  startLabWaypoint,
  startLabZtunnel,
  testkitCli,
} from '@ambient/testkit';
import { setNamespaceLabel } from '../commands/config-dir.js';
import { table } from '../output.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
const EXAMPLES = path.join(ROOT, 'examples', 'demo');
const CONTROLLER = path.join(ROOT, 'apps', 'controller', 'dist', 'main.js');
const ZTUNNEL = path.join(ROOT, 'apps', 'ztunnel', 'dist', 'main.js');
const WAYPOINT = path.join(ROOT, 'apps', 'waypoint', 'dist', 'main.js');
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
  {
    name: 'details-v1',
    ns: 'bookinfo',
    node: 'node2',
    sa: 'bookinfo-details',
    app: 'details',
    version: 'v1',
    // Fails every other request with 503: the retries of the waypoint save them.
    args: ['--fail-every', '2'],
  },
  { name: 'sleep', ns: 'outside', node: 'node1', sa: 'sleep', app: 'sleep', version: 'v1' },
  // The waypoint's own pod (what istiod's Deployment for the Gateway would run): not captured.
  { name: 'waypoint', ns: 'bookinfo', node: 'node1', sa: 'waypoint', app: '', version: '', waypoint: true },
] as const satisfies readonly {
  name: string;
  ns: string;
  node: string;
  sa: string;
  app: string;
  version: string;
  args?: readonly string[];
  waypoint?: boolean;
}[];

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
  for (const f of [CONTROLLER, ZTUNNEL, WAYPOINT])
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
    let s = step(
      `building the cluster: 2 nodes, ${PODS.length} pods (namespace bookinfo in the mesh, outside not)`,
    );
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

    s = step('starting the waypoint of bookinfo (its own pod; identity from the controller CA)');
    const waypoint = await startLabWaypoint(sup, L, {
      entry: WAYPOINT,
      caDir: path.join(dir, 'ca'),
      pod: 'waypoint',
    });
    s.done();

    s = step('starting the apps (an HTTP echo in every pod)');
    for (const p of PODS) {
      if ('waypoint' in p) continue;
      await sup.start({
        name: `app-${p.name}`,
        command: process.execPath,
        args: [testkitCli, 'http-echo', '--port', '8080', '--name', p.name, ...('args' in p ? p.args : [])],
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
    const logs = (node: string) => ztunnels[node]!.jsonLogs();
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
      '\n── 7. L7 with the waypoint: bookinfo bound to its waypoint, Istio VirtualServices applied',
    );
    console.log(
      '   labelling namespace bookinfo istio.io/use-waypoint=waypoint (what `ambientctl waypoint apply -n bookinfo --enroll-namespace` does)',
    );
    console.log(
      '   applying examples/demo/steps/l7-routing.yaml (reviews canary 90/10 + fault rule, details retries)',
    );
    setNamespaceLabel(configDir, 'bookinfo', 'istio.io/use-waypoint', 'waypoint');
    copyFileSync(path.join(EXAMPLES, 'steps', 'l7-routing.yaml'), path.join(configDir, 'l7-routing.yaml'));
    const wpJson = async (url: string) => {
      const r = await L.exec('waypoint', process.execPath, [testkitCli, 'http-get', url], {
        allowFailure: true,
      });
      return r.code === 0 ? (JSON.parse(r.stdout).body as unknown) : undefined;
    };
    for (let i = 0; ; i++) {
      const dump = (await wpJson('http://127.0.0.1:15000/config_dump')) as
        | { services: unknown[]; routes: { routes: { name: string }[] }[] }
        | undefined;
      const routes = dump?.routes.flatMap((t) => t.routes.map((r) => r.name)) ?? [];
      if (routes.some((n) => n.startsWith('VirtualService/bookinfo/details'))) break;
      if (i > 100) throw new Error('the waypoint did not receive the VirtualServices in 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    // ...and both ztunnels acknowledged the binding (the controller's /debug/syncz).
    for (let i = 0; !(await allProxiesAcked(L, 3)); i++) {
      if (i > 100) throw new Error('the proxies did not acknowledge the waypoint binding in 10 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    const load = async (url: string, n: number, headers: Record<string, string> = {}, concurrency = 4) => {
      const args = [testkitCli, 'http-load', url, '-n', String(n), '-c', String(concurrency)];
      for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`);
      const r = await L.exec('productpage-v1', process.execPath, args);
      return JSON.parse(r.stdout) as { statuses: Record<string, number>; pods: Record<string, number> };
    };
    const fmt = (o: Record<string, number>) =>
      Object.entries(o)
        .sort()
        .map(([k, v]) => `${k} ×${v}`)
        .join(', ');
    const canary = await load('http://10.96.0.11:9080/', 200);
    console.log(`   canary, 200 calls to reviews: ${fmt(canary.pods)} (weights 90/10)`);
    const jason = await load('http://10.96.0.11:9080/', 20, { 'end-user': 'jason' });
    console.log(`   with header end-user: jason, 20 calls: ${fmt(jason.pods)}`);
    const faults = await load('http://10.96.0.11:9080/', 100, { 'x-demo-fault': 'abort' });
    console.log(`   fault rule (abort 50 % with 503), 100 calls: status ${fmt(faults.statuses)}`);
    const details = await load('http://10.96.0.13:9080/', 20, {}, 1);
    const access = (await waypoint.jsonLogs()).filter((l) => l.scope === 'access');
    const retried = access.filter(
      (l) => l['dst.service'] === 'details.bookinfo.svc.cluster.local' && Number(l.attempts) > 1,
    );
    console.log(
      `   details fails every other request; with retries {attempts: 3, retryOn: 5xx}, 20 calls: status ${fmt(details.statuses)} (${retried.length} needed a second attempt)`,
    );
    const last = access.filter((l) => l['dst.service'] === 'reviews.bookinfo.svc.cluster.local').slice(-1)[0];
    const inbound = [...(await logs('node1')), ...(await logs('node2'))]
      .filter(
        (l) =>
          l.direction === 'inbound' &&
          String(l['src.identity'] ?? '').endsWith('/sa/waypoint') &&
          String(l['dst.identity'] ?? '').endsWith('/sa/bookinfo-reviews'),
      )
      .slice(-1)[0];
    process.stdout.write(
      indent(
        table([
          {
            hop: 'productpage → waypoint',
            from: last?.['src.identity'] ?? '?',
            to: 'spiffe://cluster.local/ns/bookinfo/sa/waypoint',
          },
          {
            hop: 'waypoint → reviews',
            from: inbound?.['src.identity'] ?? '?',
            to: inbound?.['dst.identity'] ?? '?',
          },
        ]),
      ),
    );
    const wpMetrics = String((await wpJson('http://127.0.0.1:15020/stats/prometheus')) ?? '');
    const fi = wpMetrics
      .split('\n')
      .filter((l) => l.startsWith('istio_requests_total{') && l.includes('response_flags="FI"'))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
    console.log(
      `   waypoint metrics (reporter="waypoint", :15020): istio_requests_total counts ${fi} requests with response_flags="FI"`,
    );

    if (o.once) {
      console.log('\n• done (--once): removing the cluster …');
      await cleanup();
      return 0;
    }
    console.log(`\nThe mesh keeps running. Try, in another terminal (as root):
  npx ambientctl ztunnel-config workloads --netns ${L.node('node1').netns}
  npx ambientctl ztunnel-config certificates --netns ${L.node('node2').netns}
  npx ambientctl proxy-status --netns ${L.plan.underlayNetns} --controller 127.0.0.1:15014
  sudo ip netns exec ${L.pod('waypoint').netns} node ${testkitCli} http-get http://127.0.0.1:15000/config_dump
  npx ambientctl waypoint list --config-dir ${configDir}
  npx ambientctl analyze -f ${configDir}
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
  return `${PODS.map((p) =>
    podManifest(lab.pod(p.name), {
      serviceAccount: p.sa,
      labels:
        'waypoint' in p
          ? { 'gateway.networking.k8s.io/gateway-name': 'waypoint', 'istio.io/dataplane-mode': 'none' }
          : { app: p.app, version: p.version },
    }),
  ).join('\n---\n')}\n`;
}

function indent(s: string): string {
  return `${s
    .split('\n')
    .map((l) => (l ? `   ${l}` : l))
    .join('\n')}\n`;
}
