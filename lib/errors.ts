import { createError } from '@fastify/error'

// Every error an app or a client can see, with a stable code. Registration-time
// errors are thrown by `app.register()`; wire errors travel in responses.

export const FST_WEBCHANNEL_INVALID_OPTION = createError<[string, string]>(
  'FST_WEBCHANNEL_INVALID_OPTION', 'Invalid option "%s": %s', 500, TypeError)
export const FST_WEBCHANNEL_DUPLICATE_HANDLER = createError<[string, string]>(
  'FST_WEBCHANNEL_DUPLICATE_HANDLER', 'A handler for event "%s" on channel "%s" is already registered', 500)
export const FST_WEBCHANNEL_RESERVED_EVENT = createError<[string]>(
  'FST_WEBCHANNEL_RESERVED_EVENT', 'Event name "%s" is reserved on the main channel', 500)
export const FST_WEBCHANNEL_INVALID_SCHEMA = createError<[string, string]>(
  'FST_WEBCHANNEL_INVALID_SCHEMA', 'Schema for event "%s" is invalid: %s', 500)
export const FST_WEBCHANNEL_DUPLICATE_CHANNEL = createError<[string]>(
  'FST_WEBCHANNEL_DUPLICATE_CHANNEL', 'Channel "%s" is already declared', 500)
export const FST_WEBCHANNEL_SESSION_CLOSED = createError<[string]>(
  'FST_WEBCHANNEL_SESSION_CLOSED', 'Session %s is closed', 500)
export const FST_WEBCHANNEL_REQUEST_TIMEOUT = createError<[string]>(
  'FST_WEBCHANNEL_REQUEST_TIMEOUT', 'Request "%s" timed out', 500)

/** Codes carried in the `e` object of an error response (`{"i":id,"e":{...},"_":1}`). */
export const WireErrorCode = {
  /** The payload failed its TypeBox schema; `path` names the failing location. */
  VALIDATION: 'WEBCHANNEL_VALIDATION',
  /** No handler is registered for the requested event. */
  NO_HANDLER: 'WEBCHANNEL_NO_HANDLER',
  /** The handler threw or rejected; the message is generic on purpose. */
  HANDLER_ERROR: 'WEBCHANNEL_HANDLER_ERROR',
  /** The handler did not answer within `handlerTimeout`. */
  TIMEOUT: 'WEBCHANNEL_TIMEOUT',
  /** Too many requests in flight for this session. */
  TOO_MANY_REQUESTS: 'WEBCHANNEL_TOO_MANY_REQUESTS',
  /** Subscription refused: undeclared channel or authorize said no (never says which). */
  FORBIDDEN: 'WEBCHANNEL_FORBIDDEN',
  /** The request id is not a positive safe integer. */
  BAD_REQUEST: 'WEBCHANNEL_BAD_REQUEST',
  /** The session is shutting down. */
  SHUTTING_DOWN: 'WEBCHANNEL_SHUTTING_DOWN',
} as const
export type WireErrorCode = typeof WireErrorCode[keyof typeof WireErrorCode]

/** An error a handler may throw to send a chosen code and message to the client. */
export class WireError extends Error {
  readonly code: string
  readonly details?: Record<string, unknown>
  constructor (code: string, message: string, details?: Record<string, unknown>) {
    super(message)
    this.name = 'WireError'
    this.code = code
    if (details !== undefined) this.details = details
  }
}

/** WebSocket close codes this library sends. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
  TRY_AGAIN_LATER: 1013,
  /** Application range: no pong within pongTimeout. */
  PING_TIMEOUT: 4000,
  /** Application range: too many requests in flight. */
  TOO_MANY_REQUESTS: 4008,
} as const

// WebChannel (long-poll transport) wire errors: JSON bodies {statusCode, code, error, message}.
export const FST_WEBCHANNEL_INVALID_REQUEST = createError<[string]>(
  'FST_WEBCHANNEL_INVALID_REQUEST', 'Invalid WebChannel request: %s', 400)
export const FST_WEBCHANNEL_ORIGIN_FORBIDDEN = createError(
  'FST_WEBCHANNEL_ORIGIN_FORBIDDEN', 'Origin not allowed', 403)
export const FST_WEBCHANNEL_BODY_TOO_LARGE = createError<[number]>(
  'FST_WEBCHANNEL_BODY_TOO_LARGE', 'Request body is larger than %d bytes', 413)
