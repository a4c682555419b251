// @ambient/policy — pure authorization: no node: imports, tested with tables.
export {
  type Action,
  type CompiledPolicy,
  type Connection,
  compilePolicy,
  type Decision,
  evaluate,
  type PeerIdentity,
  selectPolicies,
} from './engine.js';
export { cidrContains, formatIp, parseIp } from './ip.js';
export {
  type CompiledL7Policy,
  compileL7Policy,
  evaluateL7,
  type L7Action,
  type L7Decision,
  type L7PolicySpec,
  type PolicyLayer,
  pathMatcher,
  type RequestAttributes,
} from './l7.js';
export {
  type NormalizedPath,
  normalizeRequestPath,
  PATH_NORMALIZATIONS,
  type PathNormalization,
} from './path-normalization.js';
export { compileRe2, type Re2, Re2Error, re2Problem } from './re2.js';
