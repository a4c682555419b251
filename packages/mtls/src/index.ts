// @ambient/mtls — SPIFFE identities, the CA and its RPC, certificate rotation, HBONE TLS.

export {
  CaClient,
  type CaClientOptions,
  type CertificateProvider,
  toWorkloadCertificate,
  type WorkloadCertificate,
} from './ca/ca-client.js';
export {
  type CaAuthorizer,
  type CaRequestContext,
  CaService,
  type CaServiceOptions,
  caServiceDefinition,
  IMPERSONATED_IDENTITY,
  staticAllowList,
} from './ca/ca-service.js';
export {
  CA_FILES,
  CertificateAuthority,
  DEFAULT_WORKLOAD_CERT_TTL_S,
  MAX_WORKLOAD_CERT_TTL_S,
  type SignOptions,
} from './ca/certificate-authority.js';
export { MtlsError, type MtlsErrorCode } from './errors.js';
export { DEFAULT_SERVICE_ACCOUNT, DEFAULT_TRUST_DOMAIN, Identity } from './identity.js';
export { Priority, SecretManager, type SecretManagerOptions, type SecretStatus } from './secret-manager.js';
export {
  clientTlsOptions,
  HBONE_ALPN,
  HBONE_CIPHERS,
  peerIdentity,
  serverSecureContextOptions,
  serverTlsOptions,
  verifyClientTrustDomain,
} from './tls-contexts.js';
export {
  bearerToken,
  serviceAccountOf,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TOKEN_KEY_FILE,
  TokenIssuer,
  type TokenReview,
  type TokenReviewer,
  type TokenSubject,
} from './tokens.js';
export {
  certificateUris,
  createCertificate,
  createCsr,
  generateEcKey,
  parseCsr,
  splitPemBundle,
} from './x509.js';
