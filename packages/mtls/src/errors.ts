/** The one error class of @ambient/mtls: a stable `code`, a `cause`, an actionable message. */
export type MtlsErrorCode =
  | 'BAD_IDENTITY'
  | 'BAD_CSR'
  | 'CA_STATE'
  | 'CA_NOT_READY'
  | 'NOT_ALLOWED'
  | 'UNAUTHENTICATED'
  | 'CA_RPC'
  | 'BAD_CERT'
  | 'PEER_IDENTITY';

export class MtlsError extends Error {
  constructor(
    readonly code: MtlsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MtlsError';
  }
}
