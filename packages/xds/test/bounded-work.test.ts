// One xDS request costs bounded work (issue: no peer can take a proxy down). Before the fix a
// Delta request subscribing K names that do not exist cost O(K²) — 40k names blocked the
// controller's event loop for ≈ 5.5 s, and every other stream and the CA waited. A raw gRPC
// client on loopback sends the requests; the server runs in this process, so the test
// measures how long its event loop was blocked.
import { DeltaDiscoveryRequest, TypeUrl } from '@ambient/proto';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { adsServiceDefinition, ResourceCache, XDS_LIMITS, XdsServer } from '../src/index.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const Client = grpc.makeGenericClientConstructor(adsServiceDefinition, 'ads');

async function serve(limits: Partial<typeof XDS_LIMITS> = {}) {
  const server = new XdsServer({ cache: new ResourceCache(), debounceMs: 10, limits });
  const port = await server.listen('127.0.0.1:0');
  cleanups.push(() => server.close());
  const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  cleanups.push(() => client.close());
  return client as unknown as {
    DeltaAggregatedResources(): grpc.ClientDuplexStream<unknown, { removedResources: string[] }>;
  };
}

/** The longest the event loop went without running a 5 ms timer, while `work` ran. */
async function maxLag(work: () => Promise<void>): Promise<number> {
  let worst = 0;
  let last = performance.now();
  const t = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 5);
    last = now;
  }, 5);
  try {
    await work();
  } finally {
    clearInterval(t);
  }
  return worst;
}

const names = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `absent/${from + i}`);

describe('xDS server: bounded work per request', () => {
  it('subscribing 40,000 absent names in one request is linear: the event loop never stalls', async () => {
    // The limit raised so that one request can carry all 40,000 (the quadratic case took ≈ 5 s).
    const client = await serve({ namesPerRequest: 40_000 });
    const call = client.DeltaAggregatedResources();
    call.on('error', () => {});
    cleanups.push(() => call.cancel());
    let removed = 0;
    const lag = await maxLag(
      () =>
        new Promise<void>((resolve, reject) => {
          call.on('data', (r) => {
            removed += r.removedResources.length;
            if (removed >= 40_000) resolve();
          });
          call.on('error', reject);
          call.write(
            DeltaDiscoveryRequest.create({
              typeUrl: TypeUrl.Address,
              node: { id: 'ztunnel~1~a.b~b.svc' },
              resourceNamesSubscribe: names(40_000),
            }),
          );
        }),
    );
    expect(removed).toBe(40_000); // each absent name reported once
    // Quadratic work here blocked for seconds; linear work stays in the tens of milliseconds.
    expect(lag).toBeLessThan(1000);
  }, 20_000);

  it('a request over the per-request limit ends its stream with RESOURCE_EXHAUSTED naming the limit', async () => {
    const client = await serve();
    const call = client.DeltaAggregatedResources();
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      call.on('error', resolve);
      call.on('data', () => {});
      call.write(
        DeltaDiscoveryRequest.create({
          typeUrl: TypeUrl.Address,
          node: { id: 'ztunnel~1~a.b~b.svc' },
          resourceNamesSubscribe: names(XDS_LIMITS.namesPerRequest + 1),
        }),
      );
    });
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/names 10001 resources; the limit is 10000/);
  });
});

describe('xDS server: a push to many proxies yields between them', () => {
  it('each proxy is pushed in its own turn of the event loop (other streams and the CA are served in between)', async () => {
    const { Address } = await import('@ambient/proto');
    const cache = new ResourceCache();
    const server = new XdsServer({ cache, debounceMs: 5 });
    const port = await server.listen('127.0.0.1:0');
    cleanups.push(() => server.close());
    const resources = (gen: number) =>
      new Map(
        Array.from({ length: 10_000 }, (_, i) => [
          `Kubernetes//Pod/ns/p${i}`,
          {
            workload: {
              uid: `Kubernetes//Pod/ns/p${i}`,
              name: `p${i}-${gen}`,
              namespace: 'ns',
              addresses: [Uint8Array.from([10, 1, i >> 8, i & 255])],
            },
          },
        ]),
      );
    cache.replaceAll(Address, resources(0));
    const CLIENTS = 20;
    const received: number[] = [];
    let generation = 0;
    for (let i = 0; i < CLIENTS; i++) {
      const client = new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
        DeltaAggregatedResources(): grpc.ClientDuplexStream<unknown, { resources: unknown[]; nonce: string }>;
        close(): void;
      };
      cleanups.push(() => client.close());
      const call = client.DeltaAggregatedResources();
      call.on('error', () => {}); // cancelled at the end
      cleanups.push(() => call.cancel());
      await new Promise<void>((resolve) => {
        let first = true;
        call.on('data', (r) => {
          call.write(DeltaDiscoveryRequest.create({ typeUrl: TypeUrl.Address, responseNonce: r.nonce }));
          if (first) {
            first = false;
            resolve();
          } else if (generation === 1) received.push(performance.now());
        });
        call.write(
          DeltaDiscoveryRequest.create({ typeUrl: TypeUrl.Address, node: { id: `ztunnel~${i}~z.b~b.svc` } }),
        );
      });
    }
    // Sample the server's push count from the event loop while the change goes out: with one
    // push per turn some samples fall between the first and the last proxy; pushed all in one
    // turn (as before), none can.
    const before = server.pushes;
    const between = new Set<number>();
    let sampling = true;
    const sample = () => {
      const done = server.pushes - before;
      if (done > 0 && done < CLIENTS) between.add(done);
      if (sampling) setImmediate(sample);
    };
    const changed = performance.now();
    generation = 1;
    cache.replaceAll(Address, resources(1));
    sample();
    const deadline = Date.now() + 20_000;
    while (received.length < CLIENTS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    sampling = false;
    expect(received).toHaveLength(CLIENTS);
    console.log(
      `push of 10,000 Addresses to ${CLIENTS} proxies: ${(Math.max(...received) - changed).toFixed(0)} ms in all; the event loop ran between pushes ${between.size} times`,
    );
    expect(between.size).toBeGreaterThanOrEqual(CLIENTS / 2);
  }, 40_000);
});
