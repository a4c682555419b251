// Outbound routing, one row per step of shared spec ztunnel.md §1.6.
import { describe, expect, it } from 'vitest';
import { ProxyState } from '../state/proxy-state.js';
import type { Service, Workload } from '../state/types.js';
import { pickEndpoint, routeOutbound } from './route.js';

function wl(name: string, ip: string, extra: Partial<Workload> = {}): Workload {
  return {
    uid: `Kubernetes//Pod/shop/${name}`,
    name,
    namespace: 'shop',
    workloadIps: [ip],
    hostname: '',
    network: '',
    protocol: 'HBONE',
    networkMode: 'Standard',
    trustDomain: 'cluster.local',
    serviceAccount: name,
    node: 'n1',
    canonicalName: name,
    canonicalRevision: 'v1',
    workloadType: 'deployment',
    workloadName: name,
    nativeTunnel: false,
    authorizationPolicies: [],
    status: 'Healthy',
    clusterId: 'Kubernetes',
    capacity: 1,
    services: {},
    ...extra,
  };
}
const svc = (hostname: string, vip: string, extra: Partial<Service> = {}): Service => ({
  name: hostname.split('.')[0]!,
  namespace: 'shop',
  hostname,
  vips: [{ network: '', ip: vip }],
  ports: { 80: 8080 },
  subjectAltNames: [],
  canonical: true,
  ...extra,
});

function state(): ProxyState {
  const s = new ProxyState();
  s.upsertWorkload(wl('client', '10.244.1.2'));
  s.upsertWorkload(
    wl('web-1', '10.244.2.2', { services: { 'shop/web.shop.svc.cluster.local': { 80: 8080 } } }),
  );
  s.upsertWorkload(
    wl('web-2', '10.244.2.3', {
      services: { 'shop/web.shop.svc.cluster.local': { 80: 8080 } },
      status: 'Unhealthy',
    }),
  );
  s.upsertWorkload(wl('legacy', '10.244.3.2', { protocol: 'TCP' }));
  s.upsertWorkload(
    wl('waypoint', '10.244.2.9', { services: { 'shop/waypoint.shop.svc.cluster.local': {} } }),
  );
  s.upsertService(
    svc('web.shop.svc.cluster.local', '10.96.0.10', {
      subjectAltNames: ['spiffe://cluster.local/ns/shop/sa/web-extra'],
    }),
  );
  s.upsertService(svc('empty.shop.svc.cluster.local', '10.96.0.11'));
  s.upsertService(
    svc('pass.shop.svc.cluster.local', '10.96.0.12', {
      loadBalancer: { mode: 'Passthrough', routingPreferences: [], healthPolicy: 'OnlyHealthy' },
    }),
  );
  s.upsertService(svc('waypoint.shop.svc.cluster.local', '10.96.0.99', { ports: { 15008: 15008 } }));
  s.upsertService(
    svc('reviews.shop.svc.cluster.local', '10.96.0.20', {
      waypoint: {
        destination: { kind: 'hostname', namespace: 'shop', hostname: 'waypoint.shop.svc.cluster.local' },
        hboneMtlsPort: 15008,
      },
    }),
  );
  s.upsertWorkload(
    wl('wp-bound', '10.244.2.20', {
      waypoint: { destination: { kind: 'address', network: '', ip: '10.244.2.9' }, hboneMtlsPort: 15008 },
    }),
  );
  return s;
}

describe('routeOutbound', () => {
  const s = state();
  const source = s.findWorkloadByIp('', '10.244.1.2')!;
  const route = (dstIp: string, dstPort: number, src = source) =>
    routeOutbound(s, { source: src, dstIp, dstPort, random: () => 0 });

  it('service VIP → a healthy endpoint over HBONE, target port translated, service SANs expected', () => {
    expect(route('10.96.0.10', 80)).toMatchObject({
      kind: 'hbone',
      dialIp: '10.244.2.2',
      dialPort: 15008,
      authority: { ip: '10.244.2.2', port: 8080 },
      expectedIdentities: [
        'spiffe://cluster.local/ns/shop/sa/web-1',
        'spiffe://cluster.local/ns/shop/sa/web-extra',
      ],
      viaWaypoint: false,
    });
  });

  it('never picks an unhealthy endpoint', () => {
    for (const r of [0, 0.5, 0.99]) {
      const picked = routeOutbound(s, { source, dstIp: '10.96.0.10', dstPort: 80, random: () => r });
      expect(picked.kind === 'hbone' && picked.dialIp).toBe('10.244.2.2');
    }
  });

  it('service without healthy endpoints → fail "no healthy upstream"', () => {
    expect(route('10.96.0.11', 80)).toMatchObject({
      kind: 'fail',
      reason: expect.stringContaining('no healthy upstream'),
    });
  });

  it('PASSTHROUGH service without endpoints → plain TCP to the original destination', () => {
    expect(route('10.96.0.12', 80)).toMatchObject({ kind: 'passthrough', ip: '10.96.0.12', port: 80 });
  });

  it('service with a waypoint → HBONE to the waypoint, authority = original VIP:port', () => {
    expect(route('10.96.0.20', 9080)).toMatchObject({
      kind: 'hbone',
      dialIp: '10.244.2.9',
      authority: { ip: '10.96.0.20', port: 9080 },
      expectedIdentities: ['spiffe://cluster.local/ns/shop/sa/waypoint'],
      viaWaypoint: true,
    });
  });

  it('pod IP with HBONE → podIP:15008, authority podIP:port (no translation)', () => {
    expect(route('10.244.2.2', 9999)).toMatchObject({
      kind: 'hbone',
      dialIp: '10.244.2.2',
      dialPort: 15008,
      authority: { ip: '10.244.2.2', port: 9999 },
    });
  });

  it('pod IP with TCP → plain passthrough to the pod', () => {
    expect(route('10.244.3.2', 5432)).toMatchObject({ kind: 'passthrough', ip: '10.244.3.2', port: 5432 });
  });

  it('pod with its own waypoint → through the waypoint, except from the waypoint itself', () => {
    expect(route('10.244.2.20', 80)).toMatchObject({
      kind: 'hbone',
      dialIp: '10.244.2.9',
      viaWaypoint: true,
    });
    const fromWaypoint = s.findWorkloadByIp('', '10.244.2.9')!;
    expect(route('10.244.2.20', 80, fromWaypoint)).toMatchObject({
      kind: 'hbone',
      dialIp: '10.244.2.20',
      viaWaypoint: false,
    });
  });

  it('unknown destination → plain passthrough', () => {
    expect(route('192.0.2.1', 443)).toEqual({ kind: 'passthrough', ip: '192.0.2.1', port: 443 });
  });
});

describe('pickEndpoint', () => {
  it('weights by capacity', () => {
    const s = new ProxyState();
    const key = 'shop/s.shop.svc.cluster.local';
    s.upsertWorkload(wl('a', '10.0.0.1', { capacity: 1, services: { [key]: { 80: 80 } } }));
    s.upsertWorkload(wl('b', '10.0.0.2', { capacity: 3, services: { [key]: { 80: 80 } } }));
    const service = svc('s.shop.svc.cluster.local', '10.96.1.1', { ports: { 80: 80 } });
    s.upsertService(service);
    const src = wl('c', '10.0.0.9');
    let b = 0;
    for (let i = 0; i < 1000; i++)
      if (pickEndpoint(s, service, 80, src, () => i / 1000)?.workload.name === 'b') b++;
    expect(b).toBe(750);
  });

  it('STRICT locality keeps only endpoints matching every preference; FAILOVER prefers the best', () => {
    const s = new ProxyState();
    const key = 'shop/s.shop.svc.cluster.local';
    s.upsertWorkload(
      wl('near', '10.0.0.1', {
        locality: { region: 'eu', zone: 'a', subzone: '' },
        services: { [key]: { 80: 80 } },
      }),
    );
    s.upsertWorkload(
      wl('far', '10.0.0.2', {
        locality: { region: 'us', zone: 'b', subzone: '' },
        services: { [key]: { 80: 80 } },
      }),
    );
    const src = wl('c', '10.0.0.9', { locality: { region: 'eu', zone: 'a', subzone: '' } });
    const strict = svc('s.shop.svc.cluster.local', '10.96.1.1', {
      ports: { 80: 80 },
      loadBalancer: { mode: 'Failover', routingPreferences: ['Region', 'Zone'], healthPolicy: 'OnlyHealthy' },
    });
    for (const r of [0, 0.99]) expect(pickEndpoint(s, strict, 80, src, () => r)?.workload.name).toBe('near');
    const farSrc = wl('d', '10.0.0.8', { locality: { region: 'ap', zone: 'x', subzone: '' } });
    const strictMode = { ...strict, loadBalancer: { ...strict.loadBalancer!, mode: 'Strict' as const } };
    expect(pickEndpoint(s, strictMode, 80, farSrc, () => 0)).toBeUndefined();
    expect(pickEndpoint(s, strict, 80, farSrc, () => 0)).toBeDefined();
  });
});
