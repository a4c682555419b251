import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseDuration } from './config.js';

const base = {
  NODE_NAME: 'node1',
  XDS_ADDRESS: 'http://127.0.0.1:15010',
  CA_ADDRESS: 'http://127.0.0.1:15012',
};

describe('loadConfig', () => {
  it('applies Istio defaults', () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({
      proxyMode: 'shared',
      trustDomain: 'cluster.local',
      clusterId: 'Kubernetes',
      secretTtlSeconds: 86400,
      poolMaxStreamsPerConnection: 100,
      poolUnusedReleaseTimeoutMs: 300_000,
      http2: { streamWindow: 4 * 1024 * 1024, connectionWindow: 16 * 1024 * 1024, frameSize: 1024 * 1024 },
      drainDeadlineMs: 5000,
      adminAddr: { host: '127.0.0.1', port: 15000 },
      statsAddr: { host: '::', port: 15020 },
      readinessAddr: { host: '::', port: 15021 },
      xdsAddress: 'http://127.0.0.1:15010',
    });
    expect(c.socks5Addr).toBeUndefined();
  });

  it.each([
    [{ TERMINATION_GRACE_PERIOD_SECONDS: '30' }, 25_000],
    [{ TERMINATION_GRACE_PERIOD_SECONDS: '10' }, 9_000],
    [{ TERMINATION_GRACE_PERIOD_SECONDS: '1' }, 1_000],
    [{ CONNECTION_TERMINATION_DEADLINE: '7s', TERMINATION_GRACE_PERIOD_SECONDS: '30' }, 7_000],
  ])('drain deadline from %j is %i ms (spec §8)', (env, ms) => {
    expect(loadConfig({ ...base, ...env }).drainDeadlineMs).toBe(ms);
  });

  it('prefers ISTIO_META_CLUSTER_ID, then CLUSTER_ID', () => {
    expect(loadConfig({ ...base, CLUSTER_ID: 'c2' }).clusterId).toBe('c2');
    expect(loadConfig({ ...base, CLUSTER_ID: 'c2', ISTIO_META_CLUSTER_ID: 'c1' }).clusterId).toBe('c1');
  });

  it('reports every bad variable in one error, naming each and its value', () => {
    let err: ConfigError | undefined;
    try {
      loadConfig({
        PROXY_MODE: 'sidecar',
        POOL_MAX_STREAMS_PER_CONNECTION: 'lots',
        SECRET_TTL: 'forever',
        LOCAL_XDS: 'a',
        LOCAL_XDS_PATH: '/nope',
        UNSTABLE_ENABLE_SOCKS5: 'maybe',
        AMBIENT_ADMIN_ADDR: 'localhost',
        XDS_ADDRESS: '',
        CA_ADDRESS: '',
      });
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const text = err!.message;
    for (const needle of [
      'PROXY_MODE="sidecar": expected shared or dedicated',
      'POOL_MAX_STREAMS_PER_CONNECTION="lots"',
      'SECRET_TTL="forever"',
      'LOCAL_XDS_PATH and LOCAL_XDS are both set',
      'UNSTABLE_ENABLE_SOCKS5="maybe"',
      'AMBIENT_ADMIN_ADDR="localhost"',
      'no configuration source',
      'no certificate source',
      'NODE_NAME is required',
    ]) {
      expect(text).toContain(needle);
    }
  });

  it('requires PROXY_WORKLOAD_INFO in dedicated mode', () => {
    expect(() => loadConfig({ ...base, PROXY_MODE: 'dedicated' })).toThrow(/PROXY_WORKLOAD_INFO is required/);
    expect(
      loadConfig({ ...base, PROXY_MODE: 'dedicated', PROXY_WORKLOAD_INFO: 'default/local/default' })
        .workloadInfo,
    ).toEqual({
      namespace: 'default',
      name: 'local',
      serviceAccount: 'default',
    });
  });

  it('collects XDS_HEADER_ and CA_HEADER_ variables as headers', () => {
    const c = loadConfig({ ...base, XDS_HEADER_X_TENANT: 'a', CA_HEADER_FOO_BAR: 'b' });
    expect(c.xdsHeaders).toEqual({ 'x-tenant': 'a' });
    expect(c.caHeaders).toEqual({ 'foo-bar': 'b' });
  });
});

describe('parseDuration', () => {
  it.each([
    ['24h', 86_400_000],
    ['5m', 300_000],
    ['90s', 90_000],
    ['250ms', 250],
    ['30', 30_000],
    ['x', undefined],
  ])('%s → %s ms', (v, ms) => {
    expect(parseDuration(v)).toBe(ms);
  });
});
