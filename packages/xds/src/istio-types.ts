// The two resource types ztunnel subscribes to, with the checks ztunnel makes before it
// accepts one (shared spec ztunnel.md §3.3, §3.4): a bad one is NACKed by name.
import { Address, Authorization, istio } from '@ambient/proto';
import { type ResourceType, resourceType } from './resource-type.js';

/** Resource name of an Address, as istiod names it (spec §3.1). */
export function addressName(a: istio.workload.Address): string {
  if (a.workload) return a.workload.uid;
  if (a.service) return `${a.service.namespace}/${a.service.hostname}`;
  return '';
}

export function authorizationName(p: istio.security.Authorization): string {
  return `${p.namespace}/${p.name}`;
}

function ipLengthOk(b: Uint8Array): boolean {
  return b.length === 4 || b.length === 16;
}

function validateAddress(a: istio.workload.Address): string | undefined {
  if (a.workload) {
    const w = a.workload;
    if (!w.uid) return 'workload has no uid';
    if (!w.name || !w.namespace) return 'workload needs name and namespace';
    if (w.addresses.some((b) => !ipLengthOk(b))) return 'workload address is not 4 or 16 bytes';
    if (w.tunnelProtocol === istio.workload.TunnelProtocol.LEGACY_ISTIO_MTLS) {
      return 'tunnel protocol LEGACY_ISTIO_MTLS is not supported';
    }
    return undefined;
  }
  if (a.service) {
    const s = a.service;
    if (!s.hostname || !s.namespace) return 'service needs hostname and namespace';
    for (const addr of s.addresses) {
      if (!ipLengthOk(addr.address)) return 'service address is not 4 or 16 bytes';
      if (addr.length !== undefined && addr.length !== null && addr.length > addr.address.length * 8) {
        return `service CIDR prefix /${addr.length} is too long`;
      }
    }
    return undefined;
  }
  return 'address is neither a workload nor a service';
}

function validateAuthorization(p: istio.security.Authorization): string | undefined {
  if (!p.name) return 'policy has no name';
  for (const rule of p.rules) {
    for (const clause of rule.clauses) {
      for (const m of clause.matches) {
        for (const cidr of [...m.sourceIps, ...m.notSourceIps, ...m.destinationIps, ...m.notDestinationIps]) {
          if (!ipLengthOk(cidr.address)) return 'address in a match is not 4 or 16 bytes';
          if (cidr.length > cidr.address.length * 8) return `invalid CIDR prefix /${cidr.length}`;
        }
        for (const port of [...m.destinationPorts, ...m.notDestinationPorts]) {
          if (port > 65535) return `invalid port ${port}`;
        }
      }
    }
  }
  return undefined;
}

export const istioTypes: {
  address: ResourceType<istio.workload.Address>;
  authorization: ResourceType<istio.security.Authorization>;
} = {
  address: resourceType(Address, { validate: validateAddress, nameOf: addressName }),
  authorization: resourceType(Authorization, { validate: validateAuthorization, nameOf: authorizationName }),
};
