// `ambientctl analyze -f DIR` (or against the current cluster through kubectl): every object
// that does not load and every warning the controller's translation would log, plus checks
// for people (L7 rules for services without a waypoint, unknown subsets, weights summing to
// 0). Exit code 1 when there is an error, as `istioctl analyze` does; warnings alone exit 0.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { analyzeFiles, type Finding } from '@ambient/controller/analyze';
import { type Format, print } from '../output.js';

const KINDS =
  'namespaces,pods,services,endpointslices.discovery.k8s.io,authorizationpolicies.security.istio.io,peerauthentications.security.istio.io,requestauthentications.security.istio.io,virtualservices.networking.istio.io,destinationrules.networking.istio.io,gateways.gateway.networking.k8s.io,httproutes.gateway.networking.k8s.io';

export function analyze(o: { files: string[]; output: Format }): number {
  let findings: Finding[];
  if (o.files.length > 0) findings = analyzeFiles(o.files);
  else {
    // Against the cluster: everything the controller watches, in one List.
    const r = spawnSync('kubectl', ['get', KINDS, '-A', '-o', 'yaml'], {
      encoding: 'utf8',
      maxBuffer: 512 * 1024 * 1024,
    });
    if (r.error || r.status !== 0) {
      console.error(
        `ambientctl analyze: kubectl failed: ${r.error?.message ?? r.stderr.trim()}\n(use -f DIR to analyze files)`,
      );
      return 2;
    }
    const dir = mkdtempSync(path.join(tmpdir(), 'ambientctl-analyze-'));
    try {
      writeFileSync(path.join(dir, 'cluster.yaml'), r.stdout);
      findings = analyzeFiles([dir]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  if (o.output === 'table' && findings.length === 0) console.log('✔ No validation issues found.');
  else
    print(
      findings.map((f) => ({ level: f.level, object: f.object, message: f.message })),
      o.output,
      findings,
    );
  return findings.some((f) => f.level === 'Error') ? 1 : 0;
}
