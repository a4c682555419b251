/** The one error class of @ambient/hbone. `status` is the HTTP status of a refused CONNECT. */
export type HboneErrorCode =
  | 'CONNECT_REFUSED' // the peer answered a status other than 200
  | 'DIAL' // TCP or TLS to the peer failed
  | 'TIMEOUT'
  | 'H2' // HTTP/2 session or stream failure
  | 'DRAINING'
  | 'BAD_REQUEST';

export class HboneError extends Error {
  constructor(
    readonly code: HboneErrorCode,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'HboneError';
  }
}
