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
