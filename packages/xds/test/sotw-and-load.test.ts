// State of the World, a slow proxy beside a fast one, and the file source.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Address, DiscoveryRequest, type istio, Methods, TypeUrl } from '@ambient/proto';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { Backoff, istioTypes, loadResourceFile, ResourceCache, XdsClient, XdsServer } from '../src/index.js';
import { uid, until, workload } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function serve() {
  const cache = new ResourceCache();
  const server = new XdsServer({ cache, debounceMs: 10 });
  const port = await server.listen('127.0.0.1:0');
  cleanups.push(() => server.close());
  return { cache, server, port };
}

describe('State of the World ADS', () => {
  it('SotW client against SotW server: full sets, updates and removals', async () => {
    const { cache, port, server } = await serve();
    cache.set(Address, uid('a'), workload('a', [10, 244, 1, 2]));
    const client = new XdsClient({
      address: `127.0.0.1:${port}`,
      protocol: 'sotw',
      node: { id: 'sotw-test' },
      types: [istioTypes.address] as never,
    }).start();
    cleanups.push(() => client.close());
    await client.ready;
    expect([...client.list(TypeUrl.Address).keys()]).toEqual([uid('a')]);
    cache.set(Address, uid('b'), workload('b', [10, 244, 1, 3]));
    await until('b arrives', () => client.list(TypeUrl.Address).size === 2);
    cache.remove(TypeUrl.Address, uid('a'));
    await until('a removed', () => client.list(TypeUrl.Address).size === 1);
    expect([...client.list(TypeUrl.Address).keys()]).toEqual([uid('b')]);
    await until(
      'acked version recorded',
      () => server.connections()[0]?.types[0]?.ackedVersion !== undefined,
    );
    expect(server.connections()[0]!.protocol).toBe('sotw');
  });
});

describe('fairness', () => {
  it('a proxy that stops reading does not hold back the others', async () => {
    const { cache, port } = await serve();
    const big = (i: number, gen: number) =>
      workload(`w${i}`, [10, 244, (i >> 8) & 255, i & 255], { canonicalName: `${gen}-${'x'.repeat(2000)}` });
    cache.replaceAll(Address, new Map(Array.from({ length: 500 }, (_, i) => [uid(`w${i}`), big(i, 0)])));

    // A raw SotW stream that never reads: its responses pile up until the server's writes block.
    const raw = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const stuck = raw.makeBidiStreamRequest(
      Methods.sotwAds,
      (m: unknown) => Buffer.from(DiscoveryRequest.encode(m as never)),
      (b: Buffer) => b,
    );
    stuck.on('error', () => {}); // cancelled at cleanup
    stuck.pause();
    stuck.write({ typeUrl: TypeUrl.Address, node: { id: 'stuck' } });
    cleanups.push(() => {
      stuck.cancel();
      raw.close();
    });

    const fast = new XdsClient({
      address: `127.0.0.1:${port}`,
      node: { id: 'fast' },
      types: [istioTypes.address] as never,
    }).start();
    cleanups.push(() => fast.close());
    await fast.ready;
    for (let gen = 1; gen <= 5; gen++) {
      cache.replaceAll(Address, new Map(Array.from({ length: 500 }, (_, i) => [uid(`w${i}`), big(i, gen)])));
      await until(
        `fast proxy gets generation ${gen}`,
        () =>
          fast
            .get<istio.workload.Address>(TypeUrl.Address, uid('w499'))
            ?.workload?.canonicalName.startsWith(`${gen}-`) ?? false,
      );
    }
  });
});

describe('Backoff', () => {
  it.each([
    // [calls, expected base delays] with no jitter: 10 ms doubling to the 15 s cap
    [12, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10240, 15000]],
  ])('doubles from 10 ms and caps at 15 s (%i calls)', (n, expected) => {
    const b = new Backoff({ jitter: 0 });
    expect(Array.from({ length: n }, () => b.next())).toEqual(expected);
    b.reset();
    expect(b.next()).toBe(10);
  });

  it('keeps jitter within ±10 % of the base at jitter 0.2', () => {
    const lo = new Backoff({ initialMs: 1000, random: () => 0 }).next();
    const hi = new Backoff({ initialMs: 1000, random: () => 0.999999 }).next();
    expect([lo, hi]).toEqual([900, 1100]);
  });
});

describe('file source', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'xds-file-'));

  it('loads proto3-JSON resources from YAML and names them as xDS would', async () => {
    const file = path.join(dir, 'addresses.yaml');
    writeFileSync(
      file,
      `resources:
  - workload: {uid: "Kubernetes//Pod/shop/a", name: a, namespace: shop, addresses: ["CvQBAg=="], tunnelProtocol: HBONE}
  - service: {name: web, namespace: shop, hostname: web.shop.svc.cluster.local, ports: [{servicePort: 80, targetPort: 8080}]}
`,
    );
    const loaded = await loadResourceFile(file, istioTypes.address);
    expect([...loaded.keys()]).toEqual(['Kubernetes//Pod/shop/a', 'shop/web.shop.svc.cluster.local']);
    expect(loaded.get('Kubernetes//Pod/shop/a')!.workload!.tunnelProtocol).toBe(1);
  });

  it('names the file, the entry and the reason for a bad resource', async () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, '- workload: {uid: u1, name: a, namespace: shop, addresses: ["AQID"]}\n');
    await expect(loadResourceFile(file, istioTypes.address)).rejects.toThrow(
      /bad.yaml entry 1 \(istio.workload.Address\) "u1": workload address is not 4 or 16 bytes/,
    );
  });

  it('an alias without its anchor is an XDS_FILE error naming the file (it threw a ReferenceError)', async () => {
    const file = path.join(dir, 'alias.yaml');
    writeFileSync(file, '- workload: *nope\n');
    await expect(loadResourceFile(file, istioTypes.address)).rejects.toMatchObject({
      code: 'XDS_FILE',
      message: expect.stringMatching(/alias.yaml: invalid YAML: Unresolved alias/),
    });
  });
});
