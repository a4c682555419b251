/** The one error class of @ambient/xds: a stable `code`, a `cause`, a message an operator can act on. */
export class XdsError extends Error {
  constructor(
    readonly code: 'XDS_TIMEOUT' | 'XDS_CLOSED' | 'XDS_UNKNOWN_TYPE' | 'XDS_INVALID' | 'XDS_FILE',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'XdsError';
  }
}
