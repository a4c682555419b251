// The kube source's event handling, fed objects the way informers deliver them (list items
// carry no kind). The real API server is exercised by the kind scenarios (e2e/kind).
import { PassThrough } from 'node:stream';
import { createLogger } from '@ambient/telemetry';
import { describe, expect, it } from 'vitest';
import { ModelStore } from '../store.js';
import { translate } from '../translate/index.js';
import { KubeSource } from './kube.js';

function source() {
  const out = new PassThrough();
  const lines: string[] = [];
  out.on('data', (d: Buffer) => lines.push(d.toString()));
  const store = new ModelStore();
  return { store, lines, kube: new KubeSource(store, createLogger({ component: 'test', destination: out })) };
}

describe('KubeSource.handle', () => {
  it('adds, updates and deletes objects; the translation follows', () => {
    const { store, kube } = source();
    let changes = 0;
    store.on('change', () => changes++);
    kube.handle('Namespace', 'add', {
      metadata: { name: 'shop', labels: { 'istio.io/dataplane-mode': 'ambient' } },
    });
    kube.handle('Pod', 'add', {
      metadata: { name: 'web', namespace: 'shop', uid: 'a1' },
      spec: { nodeName: 'n1', serviceAccountName: 'web', containers: [{ name: 'web' }] },
      status: { phase: 'Running', podIP: '10.0.0.5' },
    });
    expect(translate(store.view()).addresses.has('Kubernetes//Pod/shop/web')).toBe(true);
    // The namespace loses its label: the pod is no longer enrolled.
    kube.handle('Namespace', 'update', { metadata: { name: 'shop', labels: {} } });
    const w = translate(store.view()).addresses.get('Kubernetes//Pod/shop/web') as {
      workload: { tunnelProtocol: number };
    };
    expect(w.workload.tunnelProtocol).toBe(0);
    kube.handle('Pod', 'delete', { metadata: { name: 'web', namespace: 'shop' } });
    expect(translate(store.view()).addresses.has('Kubernetes//Pod/shop/web')).toBe(false);
    expect(changes).toBe(4);
  });

  it('an unchanged update notifies nobody', () => {
    const { store, kube } = source();
    const ns = { metadata: { name: 'shop', labels: {} } };
    kube.handle('Namespace', 'add', ns);
    let changes = 0;
    store.on('change', () => changes++);
    kube.handle('Namespace', 'update', ns);
    expect(changes).toBe(0);
  });

  it('rejects an invalid object with its name and field, and keeps the last good version', () => {
    const { store, kube, lines } = source();
    const good = { metadata: { name: 'web', namespace: 'shop' }, spec: { ports: [{ port: 80 }] } };
    kube.handle('Service', 'add', good);
    kube.handle('Service', 'update', {
      metadata: { name: 'web', namespace: 'shop' },
      spec: { ports: [{ port: 'eighty' }] },
    });
    expect(kube.rejected).toBe(1);
    expect(store.view().Service[0]!.spec.ports[0]!.port).toBe(80);
    expect(lines.join('')).toMatch(/"object":"Service\/shop\/web","field":"spec.ports.0.port"/);
  });
});
