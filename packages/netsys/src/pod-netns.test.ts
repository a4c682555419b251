import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { findPodNetns } from './pod-netns.js';

function fakeProc(processes: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'proc-'));
  for (const [pid, cgroup] of Object.entries(processes)) {
    mkdirSync(path.join(root, pid, 'ns'), { recursive: true });
    writeFileSync(path.join(root, pid, 'cgroup'), cgroup);
  }
  mkdirSync(path.join(root, 'self'));
  return root;
}

const UID = '5f8d2c1a-7b3e-4c9d-a1f2-0e6b9c8d7a65';

describe('findPodNetns', () => {
  it.each([
    [
      'systemd driver (cgroup v2)',
      `0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID.replaceAll('-', '_')}.slice/cri-containerd-0a1b.scope\n`,
    ],
    [
      'cgroupfs driver (cgroup v1)',
      `12:memory:/kubepods/burstable/pod${UID}/0a1b2c\n11:cpu:/kubepods/burstable/pod${UID}/0a1b2c\n`,
    ],
    [
      'guaranteed QoS, systemd',
      `0::/kubepods.slice/kubepods-pod${UID.replaceAll('-', '_')}.slice/cri-containerd-9f.scope\n`,
    ],
  ])('finds the pod by its UID with the %s', (_name, cgroup) => {
    const root = fakeProc({ 1: '0::/init.scope\n', 4242: cgroup, 777: '0::/system.slice/kubelet.service\n' });
    expect(findPodNetns(UID, root)).toBe(path.join(root, '4242', 'ns', 'net'));
  });

  it('returns undefined when no process of the pod is visible (no hostPID, or the pod is gone)', () => {
    const root = fakeProc({
      1: '0::/init.scope\n',
      99: '0::/kubepods.slice/kubepods-podffffffff_0000.slice/x.scope\n',
    });
    expect(findPodNetns(UID, root)).toBeUndefined();
    expect(findPodNetns(UID, '/nonexistent')).toBeUndefined();
  });
});
