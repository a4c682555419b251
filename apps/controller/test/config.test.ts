import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('controller configuration', () => {
  it('listens on the Istio ports by default, plaintext xDS on loopback only', () => {
    const c = loadConfig({ AMBIENT_CONFIG_DIR: '/cfg' });
    expect(c.xdsTls).toEqual({ host: '0.0.0.0', port: 15012 });
    expect(c.xdsPlaintext).toEqual({ host: '127.0.0.1', port: 15010 });
    expect(c.debug).toEqual({ host: '0.0.0.0', port: 15014 });
  });

  it('turns plaintext xDS off with an empty address', () => {
    expect(
      loadConfig({ AMBIENT_CONFIG_DIR: '/cfg', AMBIENT_XDS_PLAINTEXT_ADDR: '' }).xdsPlaintext,
    ).toBeUndefined();
  });

  it('reports every bad variable once, by name and value', () => {
    let err: unknown;
    try {
      loadConfig({ AMBIENT_XDS_PLAINTEXT_ADDR: 'nowhere', AMBIENT_DEBUG_ADDR: '[::]:99999' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'AMBIENT_CONFIG_DIR is required with AMBIENT_SOURCE=files (a directory of Kubernetes YAML)',
      'AMBIENT_XDS_PLAINTEXT_ADDR="nowhere": expected host:port',
      'AMBIENT_DEBUG_ADDR="[::]:99999": expected host:port',
    ]);
  });
});
