// Finding a Kubernetes pod's network namespace from its UID, without a CNI agent: with
// `hostPID`, every container process of the pod is visible in /proc, and its cgroup path
// names the pod — `…/kubepods-besteffort-pod<uid with _>.slice/…` (systemd driver) or
// `…/kubepods/besteffort/pod<uid>/…` (cgroupfs driver). The first such process's
// /proc/<pid>/ns/net is the pod's namespace.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

export function findPodNetns(podUid: string, procRoot = '/proc'): string | undefined {
  const needles = [`pod${podUid}`, `pod${podUid.replaceAll('-', '_')}`];
  let entries: string[];
  try {
    entries = readdirSync(procRoot);
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let cgroup: string;
    try {
      cgroup = readFileSync(path.join(procRoot, entry, 'cgroup'), 'utf8');
    } catch {
      continue; // the process is gone, or not ours to read
    }
    if (
      needles.some(
        (n) => cgroup.includes(`/${n}/`) || cgroup.includes(`-${n}.slice`) || cgroup.includes(`/${n}.slice`),
      )
    ) {
      return path.join(procRoot, entry, 'ns', 'net');
    }
  }
  return undefined;
}
