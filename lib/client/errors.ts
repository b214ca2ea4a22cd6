// Every error the client hands the app carries a stable `code`. Errors the
// server sent in a response keep the server's code (WEBCHANNEL_VALIDATION,
// WEBCHANNEL_FORBIDDEN, …) and any extra fields such as `path`.

export const ClientErrorCode = {
  /** The connection dropped after the request was sent and before its answer came; it may or may not have run. */
  DISCONNECTED: 'WEBCHANNEL_CLIENT_DISCONNECTED',
  /** No answer within the request's timeout. */
  TIMEOUT: 'WEBCHANNEL_CLIENT_TIMEOUT',
  /** The request's AbortSignal fired. */
  ABORTED: 'WEBCHANNEL_CLIENT_ABORTED',
  /** `client.close()` was called, or reconnecting gave up. */
  CLOSED: 'WEBCHANNEL_CLIENT_CLOSED',
  /** Too many messages waiting for a connection (`maxQueued`). */
  QUEUE_FULL: 'WEBCHANNEL_CLIENT_QUEUE_FULL',
  /** The server refused the connection (HTTP 401 or 403 on the upgrade or a WebChannel request); the client stops. */
  REFUSED: 'WEBCHANNEL_CLIENT_REFUSED',
  /** No transport could be opened in this attempt. */
  CONNECT_FAILED: 'WEBCHANNEL_CLIENT_CONNECT_FAILED',
  /** A subscription could not be restored after a reconnect. */
  RESUBSCRIBE_FAILED: 'WEBCHANNEL_CLIENT_RESUBSCRIBE_FAILED',
  /** An app listener threw. */
  LISTENER_ERROR: 'WEBCHANNEL_CLIENT_LISTENER_ERROR',
} as const
export type ClientErrorCode = typeof ClientErrorCode[keyof typeof ClientErrorCode]

/** An error raised by the client itself (`code` is one of `ClientErrorCode`). */
export class ClientError extends Error {
  readonly code: ClientErrorCode
  /** The channel concerned, for RESUBSCRIBE_FAILED. */
  readonly channel?: string
  /** The HTTP status of a refusal (REFUSED): 401 or 403. */
  readonly status?: number
  /** The transport that was refused (REFUSED). */
  readonly transport?: 'websocket' | 'webchannel'
  constructor (code: ClientErrorCode, message: string, options: { cause?: unknown, channel?: string, status?: number, transport?: 'websocket' | 'webchannel' } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ClientError'
    this.code = code
    if (options.channel !== undefined) this.channel = options.channel
    if (options.status !== undefined) this.status = options.status
    if (options.transport !== undefined) this.transport = options.transport
  }
}

/** A request the server (or the peer's handler) refused: `{"i":id,"e":{message,code,…},"_":1}`. */
export class RemoteError extends Error {
  /** The server's code, e.g. WEBCHANNEL_VALIDATION; '' when the peer sent none. */
  readonly code: string
  /** Every field of the error object as sent (`path` for validation errors, …). */
  readonly details: Readonly<Record<string, unknown>>
  constructor (body: unknown) {
    const obj = typeof body === 'object' && body !== null ? body as Record<string, unknown> : {}
    const message = typeof obj.message === 'string' ? obj.message : typeof body === 'string' ? body : 'Request failed'
    super(message)
    this.name = 'RemoteError'
    this.code = typeof obj.code === 'string' ? obj.code : ''
    this.details = { ...obj }
  }

  /** The failing JSON pointer of a validation error (e.g. "/0/text"), if the server sent one. */
  get path (): string | undefined {
    return typeof this.details.path === 'string' ? this.details.path : undefined
  }
}
