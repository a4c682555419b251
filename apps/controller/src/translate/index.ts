// The model → ztunnel's xDS resources (Address by name, Authorization by ns/name), plus the
// warnings a user should see (controller log, /debug/config, `ambientctl analyze`).
import type { Init, istio } from '@ambient/proto';
import { translateAuthorization } from './authorization.js';
import { DEFAULT_OPTIONS, type Objects, type TranslateOptions } from './model-view.js';
import { translateWaypoints, type WaypointTranslation } from './waypoint/index.js';
import { translateWorkloads } from './workloads.js';

export interface Translation {
  addresses: Map<string, Init<istio.workload.Address>>;
  authorizations: Map<string, Init<istio.security.Authorization>>;
  waypoint: Omit<WaypointTranslation, 'warnings'>;
  warnings: string[];
}

export function translate(objects: Objects, options: Partial<TranslateOptions> = {}): Translation {
  const o = { ...DEFAULT_OPTIONS, ...options };
  const authz = translateAuthorization(objects, o);
  const wl = translateWorkloads(objects, o, authz.keysFor);
  const { warnings: wpWarnings, ...waypoint } = translateWaypoints(objects, o);
  return {
    addresses: wl.addresses,
    authorizations: authz.policies,
    waypoint,
    warnings: [...new Set([...authz.warnings, ...wl.warnings, ...wpWarnings])].sort(),
  };
}

export { DEFAULT_OPTIONS, type Objects, type TranslateOptions } from './model-view.js';
