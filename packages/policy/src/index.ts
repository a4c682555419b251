// @ambient/policy — pure authorization: no node: imports, tested with tables.
export {
  type Action,
  type CompiledPolicy,
  type Connection,
  type Decision,
  type PeerIdentity,
  compilePolicy,
  evaluate,
  selectPolicies,
} from './engine.js';
export { cidrContains, formatIp, parseIp } from './ip.js';
