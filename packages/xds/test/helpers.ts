import type { Init, istio } from '@ambient/proto';

export function workload(
  name: string,
  ip: [number, number, number, number],
  extra: Init<istio.workload.Workload> = {},
) {
  return {
    workload: {
      uid: `Kubernetes//Pod/shop/${name}`,
      name,
      namespace: 'shop',
      addresses: [Uint8Array.from(ip)],
      tunnelProtocol: 1,
      serviceAccount: 'default',
      ...extra,
    },
  } satisfies Init<istio.workload.Address>;
}

export function uid(name: string): string {
  return `Kubernetes//Pod/shop/${name}`;
}

/** Polls until `check` is true or the deadline passes (then fails with `what`). */
export async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
