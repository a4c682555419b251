// Kubernetes objects for the lab's pods, as the API server would hold them once scheduled:
// node, service account, IP, readiness — plus where the pod's network namespace is
// (`ambient.dev/netns`), which ztunnel's in-pod capture needs without a CNI agent.
import type { PodPlan } from './plan.js';

export interface PodManifestOptions {
  serviceAccount: string;
  labels: Record<string, string>;
  containerPort?: number;
}

export function podManifest(pod: PodPlan, o: PodManifestOptions): string {
  const labels = Object.entries(o.labels)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    `  name: ${pod.name}`,
    `  namespace: ${pod.namespace}`,
    `  labels: {${labels}}`,
    `  annotations: {ambient.dev/netns: /var/run/netns/${pod.netns}}`,
    'spec:',
    `  nodeName: ${pod.node}`,
    `  serviceAccountName: ${o.serviceAccount}`,
    `  containers: [{name: app, ports: [{name: http, containerPort: ${o.containerPort ?? 8080}}]}]`,
    'status:',
    '  phase: Running',
    `  podIP: ${pod.ip}`,
    '  conditions: [{type: Ready, status: "True"}]',
  ].join('\n');
}
