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
