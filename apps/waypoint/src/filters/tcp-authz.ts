// Authorization for ports the waypoint proxies as TCP (no HTTP route table): the L4 part of
// every policy bound to the service — source principals, namespaces, ipBlocks, destination
// ports, DENY before ALLOW, `spec: {}` denying all — as Istio's network RBAC filter enforces
// it. Policies are compiled for the `tcp` layer (@ambient/policy): an HTTP-only attribute
// makes an ALLOW rule match nothing and a DENY rule match regardless. Shared spec
// waypoint.md §4.5.
import { type CompiledL7Policy, evaluateL7, type L7Decision } from '@ambient/policy';

export interface TcpAttributes {
  principal: string;
  sourceIp: string;
  destinationIp: string;
  destinationPort: number;
}

export function authorizeTcp(policies: readonly CompiledL7Policy[], c: TcpAttributes): L7Decision {
  if (policies.length === 0) return { allowed: true, reason: 'no policy' };
  return evaluateL7(policies, {
    principal: c.principal,
    sourceIp: c.sourceIp,
    remoteIp: c.sourceIp,
    destinationIp: c.destinationIp,
    destinationPort: c.destinationPort,
    host: '',
    method: '',
    path: '',
    headers: {},
  });
}
