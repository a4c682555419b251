// AuthorizationPolicy and RequestAuthentication for waypoints — shared spec waypoint.md §4.6
// (waypoints honour only `targetRefs`: Gateway (the waypoint), GatewayClass `istio-waypoint`
// from the root namespace, Service), §5.2. Each is checked with the waypoint's own compiler
// (@ambient/policy) so a problem is reported here, naming the object and the field.
import type { ObjectOf } from '@ambient/model';
import { compileL7Policy, type L7PolicySpec } from '@ambient/policy';
import { type ambient, type Init, structFromPlain } from '@ambient/proto';
import { nsOf, type TranslateOptions } from '../model-view.js';
import type { ServiceIndex } from './services.js';

type WaypointPolicy = Init<ambient.security.v1.WaypointPolicy>;

function targetsOf(
  o: ObjectOf<'AuthorizationPolicy'> | ObjectOf<'RequestAuthentication'>,
  idx: ServiceIndex,
  opts: TranslateOptions,
  warn: (m: string) => void,
): string[] {
  const ns = nsOf(o);
  const refs = [...(o.spec.targetRef ? [o.spec.targetRef] : []), ...(o.spec.targetRefs ?? [])];
  const where = `${o.kind}/${ns}/${o.metadata.name}`;
  const out: string[] = [];
  for (const [i, ref] of refs.entries()) {
    const group = ref.group ?? '';
    if (ref.namespace && ref.namespace !== ns) {
      warn(`${where}: spec.targetRefs[${i}].namespace: must be the policy's namespace`);
      continue;
    }
    if (ref.kind === 'Gateway' && group === 'gateway.networking.k8s.io')
      out.push(`Gateway/${ns}/${ref.name}`);
    else if (ref.kind === 'GatewayClass' && group === 'gateway.networking.k8s.io') {
      if (ns !== opts.rootNamespace)
        warn(
          `${where}: spec.targetRefs[${i}]: GatewayClass targets are only honoured in the root namespace ${opts.rootNamespace}`,
        );
      else out.push(`GatewayClass/${ref.name}`);
    } else if (ref.kind === 'Service' && (group === '' || group === 'core')) {
      const host = idx.fqdn(ref.name, ns);
      if (!idx.bound.has(host))
        warn(
          `${where}: spec.targetRefs[${i}]: Service ${ns}/${ref.name} has no waypoint; the policy has no effect`,
        );
      out.push(`Service/${ns}/${host}`);
    } else
      warn(`${where}: spec.targetRefs[${i}]: kind ${group ? `${group}/` : ''}${ref.kind} is not supported`);
  }
  return out;
}

/** A JWKS no token verifies against: what istiod inlines when it could not fetch the keys. */
const NO_KEYS = '{"keys":[]}';

function waypointPolicy(
  o: ObjectOf<'AuthorizationPolicy'> | ObjectOf<'RequestAuthentication'>,
  targets: string[],
  spec: Record<string, unknown> = o.spec as Record<string, unknown>,
): WaypointPolicy {
  return {
    kind: o.kind,
    namespace: nsOf(o),
    name: o.metadata.name,
    targets,
    spec: structFromPlain(spec),
    creationTimestamp: o.metadata.creationTimestamp ?? '',
  };
}

export function translateWaypointPolicies(
  objects: {
    AuthorizationPolicy: ObjectOf<'AuthorizationPolicy'>[];
    RequestAuthentication?: ObjectOf<'RequestAuthentication'>[];
  },
  idx: ServiceIndex,
  opts: TranslateOptions,
  warn: (m: string) => void,
): Map<string, WaypointPolicy> {
  const out = new Map<string, WaypointPolicy>();
  for (const p of objects.AuthorizationPolicy) {
    if (!p.spec.targetRef && !p.spec.targetRefs?.length) continue; // selector policies are ztunnel's
    const ns = nsOf(p);
    const where = `AuthorizationPolicy/${ns}/${p.metadata.name}`;
    if (p.metadata.annotations['istio.io/dry-run'] === 'true') {
      warn(
        `${where}: istio.io/dry-run policies are not evaluated by waypoints (shadow results are not implemented)`,
      );
      continue;
    }
    if (p.spec.action === 'AUDIT') {
      warn(`${where}: AUDIT policies never change a decision and are not sent to waypoints`);
      continue;
    }
    const compiled = compileL7Policy(p.metadata.name, ns, p.spec as L7PolicySpec);
    for (const problem of compiled.problems) warn(`${where}: ${problem}`);
    const targets = targetsOf(p, idx, opts, warn);
    if (targets.length === 0) continue;
    out.set(`AuthorizationPolicy/${ns}/${p.metadata.name}`, waypointPolicy(p, targets));
  }
  for (const ra of objects.RequestAuthentication ?? []) {
    const ns = nsOf(ra);
    const where = `RequestAuthentication/${ns}/${ra.metadata.name}`;
    if (!ra.spec.targetRef && !ra.spec.targetRefs?.length) {
      if (ra.spec.selector)
        warn(`${where}: selector policies are not enforced by ztunnel; use targetRefs to a waypoint`);
      continue;
    }
    let ok = true;
    for (const [i, rule] of ra.spec.jwtRules.entries()) {
      if (rule.jwks && rule.jwksUri) {
        warn(`${where}: spec.jwtRules[${i}]: jwks and jwksUri are exclusive`);
        ok = false;
      }
      if (!rule.jwks && !rule.jwksUri) {
        warn(`${where}: spec.jwtRules[${i}]: OIDC discovery is not supported; set jwks or jwksUri`);
        ok = false;
      }
      if (rule.jwks) {
        try {
          const keys = (JSON.parse(rule.jwks) as { keys?: unknown[] }).keys;
          if (!Array.isArray(keys)) throw new Error('no "keys" array');
        } catch (err) {
          warn(`${where}: spec.jwtRules[${i}].jwks: not a JWKS document (${(err as Error).message})`);
          ok = false;
        }
      }
    }
    if (!ok) {
      // Fail closed: an unusable RequestAuthentication would let forged tokens pass as "missing".
      warn(
        `${where}: rejected, not sent to waypoints (requests then carry no request principal, so policies requiring one deny)`,
      );
      continue;
    }
    const targets = targetsOf(ra, idx, opts, warn);
    if (targets.length === 0) continue;
    // jwksUri → the keys, inline: fetched by the controller, never by a waypoint. Keys that
    // could not be fetched become a key set nothing verifies against (fail closed, as istiod).
    const resolve = opts.jwks;
    const jwtRules = ra.spec.jwtRules.map((rule, i) => {
      if (!rule.jwksUri || !resolve) return rule;
      const r = resolve(rule.jwksUri);
      const { jwksUri: _uri, ...rest } = rule;
      if ('jwks' in r) return { ...rest, jwks: r.jwks };
      warn(
        `${where}: spec.jwtRules[${i}].jwksUri: ${r.error}; tokens of ${rule.issuer} are refused until it is fetched`,
      );
      return { ...rest, jwks: NO_KEYS };
    });
    out.set(
      `RequestAuthentication/${ns}/${ra.metadata.name}`,
      waypointPolicy(ra, targets, { ...(ra.spec as Record<string, unknown>), jwtRules }),
    );
  }
  return out;
}
