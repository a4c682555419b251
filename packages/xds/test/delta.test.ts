// Delta ADS: our client against our server over real gRPC on loopback.
import { Address, Authorization, type istio, TypeUrl } from '@ambient/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { istioTypes, ResourceCache, XdsClient, XdsServer } from '../src/index.js';
import { uid, until, workload } from './helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function startServer(cache = new ResourceCache(), port = 0) {
  const server = new XdsServer({ cache, debounceMs: 10 });
  const bound = await server.listen(`127.0.0.1:${port}`);
  cleanups.push(() => server.close());
  return { server, cache, port: bound };
}

function startClient(port: number, extra: Partial<ConstructorParameters<typeof XdsClient>[0]> = {}) {
  const client = new XdsClient({
    address: `127.0.0.1:${port}`,
    node: {
      id: 'ztunnel~10.0.0.1~ztunnel-abc.istio-system~istio-system.svc.cluster.local',
      metadata: { NODE_NAME: 'node1' },
    },
    types: [istioTypes.address, istioTypes.authorization] as never,
    backoff: { initialMs: 10, maxMs: 200 },
    ...extra,
  });
  cleanups.push(() => client.close());
  return client.start();
}

describe('Delta ADS', () => {
  it('wildcard subscription receives every resource and becomes ready after the first ACKs', async () => {
    const { cache, port, server } = await startServer();
    cache.set(Address, uid('a'), workload('a', [10, 244, 1, 2]));
    cache.set(Address, uid('b'), workload('b', [10, 244, 1, 3]));
    const client = startClient(port);
    await client.ready;
    expect([...client.list<istio.workload.Address>(TypeUrl.Address).keys()].sort()).toEqual([
      uid('a'),
      uid('b'),
    ]);
    await until(
      'server sees the ACKs',
      () => server.connections()[0]?.types.every((t) => t.acks >= 1) ?? false,
    );
    const [conn] = server.connections();
    expect(conn!.proxy.id).toContain('ztunnel~');
    expect(conn!.proxy.metadata).toEqual({ NODE_NAME: 'node1' });
    // Two types on one stream.
    expect(conn!.types.map((t) => t.typeUrl).sort()).toEqual([TypeUrl.Address, TypeUrl.Authorization].sort());
  });

  it('delivers adds, updates and removals to watchers; unchanged content notifies nobody', async () => {
    const { cache, port } = await startServer();
    const client = startClient(port);
    await client.ready;
    const events: string[] = [];
    client.watchType<istio.workload.Address>(TypeUrl.Address, {
      onUpdate: (n, r) => events.push(`update ${n} ${r.workload?.node}`),
      onRemove: (n) => events.push(`remove ${n}`),
    });
    cache.set(Address, uid('a'), workload('a', [10, 244, 1, 2], { node: 'n1' }));
    await until('add', () => events.length === 1);
    cache.set(Address, uid('a'), workload('a', [10, 244, 1, 2], { node: 'n2' }));
    await until('update', () => events.length === 2);
    expect(cache.set(Address, uid('a'), workload('a', [10, 244, 1, 2], { node: 'n2' }))).toBe(false);
    cache.remove(TypeUrl.Address, uid('a'));
    await until('remove', () => events.length === 3);
    expect(events).toEqual([`update ${uid('a')} n1`, `update ${uid('a')} n2`, `remove ${uid('a')}`]);
    expect(client.resourceStatus(TypeUrl.Address).get(uid('a'))).toEqual({ state: 'does-not-exist' });
  });

  it('NACKs only the invalid resource, applies the rest, keeps the last good version, recovers when fixed', async () => {
    const { cache, port, server } = await startServer();
    cache.set(Address, uid('bad'), workload('bad', [10, 244, 1, 9], { node: 'good-version' }));
    const client = startClient(port);
    await client.ready;
    const nacks: string[] = [];
    client.on('nack', (_t: string, m: string) => nacks.push(m));
    // One response carrying a valid new resource and an invalid update of an existing one.
    cache.replaceAll(
      Address,
      new Map([
        [uid('ok'), workload('ok', [10, 244, 1, 2])],
        [uid('bad'), workload('bad', [10, 244, 1, 9], { tunnelProtocol: 2, node: 'bad-version' })],
      ]),
    );
    await until('NACK', () => nacks.length === 1);
    expect(nacks[0]).toBe(`${uid('bad')}: tunnel protocol LEGACY_ISTIO_MTLS is not supported`);
    expect(client.get<istio.workload.Address>(TypeUrl.Address, uid('ok'))).toBeDefined();
    expect(client.get<istio.workload.Address>(TypeUrl.Address, uid('bad'))?.workload?.node).toBe(
      'good-version',
    );
    const status = client.resourceStatus(TypeUrl.Address);
    expect(status.get(uid('bad'))).toMatchObject({
      state: 'nacked',
      reason: 'tunnel protocol LEGACY_ISTIO_MTLS is not supported',
    });
    expect(status.get(uid('ok'))?.state).toBe('acked');
    await until(
      'server records the NACK',
      () => (server.connections()[0]?.types.find((t) => t.typeUrl === TypeUrl.Address)?.nacks ?? 0) === 1,
    );
    expect(
      server.connections()[0]!.types.find((t) => t.typeUrl === TypeUrl.Address)!.lastNack!.message,
    ).toContain('LEGACY_ISTIO_MTLS');
    // Fixed upstream: accepted.
    cache.set(Address, uid('bad'), workload('bad', [10, 244, 1, 9], { node: 'fixed' }));
    await until(
      'fix applied',
      () => client.get<istio.workload.Address>(TypeUrl.Address, uid('bad'))?.workload?.node === 'fixed',
    );
    expect(client.resourceStatus(TypeUrl.Address).get(uid('bad'))?.state).toBe('acked');
  });

  it('after a server restart, resumes with initial_resource_versions and is resent only what changed', async () => {
    const first = await startServer();
    const content = new Map(
      Array.from({ length: 50 }, (_, i) => [uid(`w${i}`), workload(`w${i}`, [10, 244, 1, i + 2])]),
    );
    first.cache.replaceAll(Address, content);
    first.cache.set(Authorization, 'shop/p1', { name: 'p1', namespace: 'shop', action: 1 });
    const client = startClient(first.port);
    await client.ready;
    expect(client.list(TypeUrl.Address).size).toBe(50);
    const updates: string[] = [];
    client.watchType(TypeUrl.Address, {
      onUpdate: (n) => updates.push(n),
      onRemove: (n) => updates.push(`-${n}`),
    });

    await first.server.close();
    // The restarted controller has the same content but one workload changed and one gone.
    const cache = new ResourceCache();
    content.set(uid('w7'), workload('w7', [10, 244, 1, 9], { node: 'moved' }));
    content.delete(uid('w8'));
    cache.replaceAll(Address, content);
    cache.set(Authorization, 'shop/p1', { name: 'p1', namespace: 'shop', action: 1 });
    const second = await startServer(cache, first.port);
    await until('reconnect and converge', () => updates.length === 2, 10_000);
    expect(updates.sort()).toEqual([`-${uid('w8')}`, uid('w7')].sort());
    await until('server sees the stream', () => second.server.connections().length === 1);
    const types = second.server.connections()[0]!.types;
    expect(types.find((t) => t.typeUrl === TypeUrl.Address)!.sent).toBe(1);
    expect(types.find((t) => t.typeUrl === TypeUrl.Authorization)!.sent).toBe(0);
    expect(client.list(TypeUrl.Address).size).toBe(49);
    expect(client.connects).toBeGreaterThanOrEqual(2);
  });

  it('on-demand: fetch of a present name returns it, of an absent name says it does not exist', async () => {
    const { cache, port } = await startServer();
    cache.set(Address, uid('a'), workload('a', [10, 244, 1, 2]));
    cache.set(Address, uid('b'), workload('b', [10, 244, 1, 3]));
    const client = startClient(port, { onDemand: [TypeUrl.Address] });
    await client.ready; // only Authorization is wildcard
    expect(client.list(TypeUrl.Address).size).toBe(0);
    const a = await client.fetch<istio.workload.Address>(TypeUrl.Address, uid('a'), 3000);
    expect(a?.workload?.name).toBe('a');
    expect(await client.fetch(TypeUrl.Address, uid('nope'), 3000)).toBeUndefined();
    expect(client.resourceStatus(TypeUrl.Address).get(uid('nope'))).toEqual({ state: 'does-not-exist' });
    // Only what was asked for arrived.
    expect([...client.list(TypeUrl.Address).keys()]).toEqual([uid('a')]);
    // A later add of a subscribed name arrives by itself.
    const seen: string[] = [];
    client.watch(TypeUrl.Address, uid('nope'), (r) => seen.push(r ? 'present' : 'absent'));
    cache.set(Address, uid('nope'), workload('nope', [10, 244, 1, 4]));
    await until('late add', () => seen.length === 1);
    expect(seen).toEqual(['present']);
  });

  it('fetch times out with a clear error when the control plane does not answer', async () => {
    const client = startClient(1, { onDemand: [TypeUrl.Address] });
    await expect(client.fetch(TypeUrl.Address, uid('x'), 200)).rejects.toThrow(
      /no answer from the control plane within 200 ms/,
    );
  });

  it('sends the bearer token and clusterid headers it is given', async () => {
    const { cache, port, server } = await startServer();
    cache.set(Address, uid('a'), workload('a', [10, 244, 1, 2]));
    // Record headers by wrapping the server's implementation in a second gRPC server.
    const grpc = await import('@grpc/grpc-js');
    const { adsServiceDefinition } = await import('../src/index.js');
    const seen: Record<string, unknown>[] = [];
    const impl = server.implementation;
    const wrapped = new grpc.Server();
    wrapped.addService(adsServiceDefinition, {
      DeltaAggregatedResources: (call: import('@grpc/grpc-js').ServerDuplexStream<unknown, unknown>) => {
        seen.push(call.metadata.getMap());
        (impl.DeltaAggregatedResources as (c: unknown) => void)(call);
      },
      StreamAggregatedResources: impl.StreamAggregatedResources!,
    });
    const p2 = await new Promise<number>((res, rej) =>
      wrapped.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
        e ? rej(e) : res(p),
      ),
    );
    cleanups.push(() => wrapped.forceShutdown());
    void port;
    const client = startClient(p2, {
      headers: () => ({ authorization: 'Bearer t0k3n', clusterid: 'Kubernetes' }),
    });
    await client.ready;
    expect(seen[0]).toMatchObject({ authorization: 'Bearer t0k3n', clusterid: 'Kubernetes' });
  });
});
