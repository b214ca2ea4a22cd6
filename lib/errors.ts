import { createError } from '@fastify/error'

// The catalogue: every code the plugin can produce, in one file.
//   1. FST_ errors thrown to the app (registration, API misuse, rejected promises);
//   2. HTTP refusals, sent as a status with a JSON body {statusCode, code, error, message};
//   3. wire error codes, in the `e` object of an error response ({"i":id,"e":{...},"_":1});
//   4. WebSocket close codes.
// `catalogue` lists them all with what the user should do; the README's error
// table is tested against it.

// ---- 1. thrown to the app ------------------------------------------------

export const FST_WEBCHANNEL_INVALID_OPTION = createError<[string, string]>(
  'FST_WEBCHANNEL_INVALID_OPTION', 'Invalid option "%s": %s', 500, TypeError)
export const FST_WEBCHANNEL_DUPLICATE_HANDLER = createError<[string, string]>(
  'FST_WEBCHANNEL_DUPLICATE_HANDLER', 'A handler for event "%s" on channel "%s" is already registered', 500)
export const FST_WEBCHANNEL_DUPLICATE_RAW_HANDLER = createError(
  'FST_WEBCHANNEL_DUPLICATE_RAW_HANDLER', 'A raw message handler is already registered', 500)
export const FST_WEBCHANNEL_RESERVED_EVENT = createError<[string]>(
  'FST_WEBCHANNEL_RESERVED_EVENT', 'Event name "%s" is reserved on the main channel', 500)
export const FST_WEBCHANNEL_INVALID_SCHEMA = createError<[string, string]>(
  'FST_WEBCHANNEL_INVALID_SCHEMA', 'Schema for event "%s" is invalid: %s', 500)
export const FST_WEBCHANNEL_DUPLICATE_CHANNEL = createError<[string]>(
  'FST_WEBCHANNEL_DUPLICATE_CHANNEL', 'Channel "%s" is already declared', 500)
export const FST_WEBCHANNEL_INVALID_TARGET = createError<[string]>(
  'FST_WEBCHANNEL_INVALID_TARGET', 'Cannot emit to "%s": name one channel (patterns with * only select handlers)', 500, TypeError)
export const FST_WEBCHANNEL_WEBSOCKET_REGISTERED = createError(
  'FST_WEBCHANNEL_WEBSOCKET_REGISTERED', 'fastify-webchannel registers @fastify/websocket itself; do not register it separately', 500)
export const FST_WEBCHANNEL_SESSION_CLOSED = createError<[string]>(
  'FST_WEBCHANNEL_SESSION_CLOSED', 'Session %s is closed', 500)
export const FST_WEBCHANNEL_SESSION_NOT_LOCAL = createError<[string]>(
  'FST_WEBCHANNEL_SESSION_NOT_LOCAL', 'Session %s is not open on this instance', 500)
export const FST_WEBCHANNEL_REQUEST_TIMEOUT = createError<[string]>(
  'FST_WEBCHANNEL_REQUEST_TIMEOUT', 'Request "%s" timed out', 500)
export const FST_WEBCHANNEL_ADAPTER_TIMEOUT = createError<[string]>(
  'FST_WEBCHANNEL_ADAPTER_TIMEOUT', 'The adapter did not answer "%s" in time', 500)
export const FST_WEBCHANNEL_ADAPTER_UNAVAILABLE = createError<[string]>(
  'FST_WEBCHANNEL_ADAPTER_UNAVAILABLE', 'The adapter cannot answer "%s": its bus is unreachable', 500)

// ---- 2. HTTP refusals ----------------------------------------------------

/** A refusal as it goes on the wire: status, stable code, message. */
export interface Refusal {
  readonly statusCode: number
  readonly code: string
  readonly message: string
  /** Seconds, sent as Retry-After. */
  readonly retryAfter?: number
}

/** Every HTTP refusal the routes send; `message` may be made more precise per request. */
export const HttpRefusal = {
  /** A WebChannel query or body the protocol does not allow. */
  INVALID_REQUEST: { statusCode: 400, code: 'FST_WEBCHANNEL_INVALID_REQUEST', message: 'Invalid WebChannel request' },
  /** The upgrade offered none of the required subprotocols. */
  SUBPROTOCOL_REQUIRED: { statusCode: 400, code: 'FST_WEBCHANNEL_SUBPROTOCOL_REQUIRED', message: 'Offer a supported subprotocol' },
  /** The Origin header is not allowed by the `origin` option. */
  ORIGIN_FORBIDDEN: { statusCode: 403, code: 'FST_WEBCHANNEL_ORIGIN_FORBIDDEN', message: 'Origin not allowed' },
  /** The admin route's DELETE for a session this instance does not have. */
  NO_SUCH_SESSION: { statusCode: 404, code: 'FST_WEBCHANNEL_NO_SUCH_SESSION', message: 'No such session on this instance' },
  /** A request relayed from another instance for a session this one no longer holds: the relaying instance asks the store again. */
  NOT_OWNER: { statusCode: 421, code: 'FST_WEBCHANNEL_NOT_OWNER', message: 'This instance does not hold the session' },
  /** A forward POST over `webchannel.maxBodySize`. */
  BODY_TOO_LARGE: { statusCode: 413, code: 'FST_WEBCHANNEL_BODY_TOO_LARGE', message: 'Request body is too large' },
  /** A plain GET on the WebSocket route. */
  UPGRADE_REQUIRED: { statusCode: 426, code: 'FST_WEBCHANNEL_UPGRADE_REQUIRED', message: 'This route accepts WebSocket upgrades only' },
  /** More sessions for one principal than `maxSessionsPerPrincipal`. */
  TOO_MANY_PRINCIPAL_SESSIONS: { statusCode: 429, code: 'FST_WEBCHANNEL_TOO_MANY_SESSIONS', message: 'Too many sessions for this principal' },
  /** Over a `rateLimit` bound: new sessions per IP or principal, unknown SIDs per IP, or a POST's messages; Retry-After says when. */
  RATE_LIMITED: { statusCode: 429, code: 'FST_WEBCHANNEL_RATE_LIMITED', message: 'Too many requests' },
  /** More sessions than `maxSessions`. */
  TOO_MANY_SESSIONS: { statusCode: 503, code: 'FST_WEBCHANNEL_TOO_MANY_SESSIONS', message: 'Too many sessions' },
  /** `app.close()` has begun. */
  SHUTTING_DOWN: { statusCode: 503, code: 'FST_WEBCHANNEL_SHUTTING_DOWN', message: 'Server is shutting down' },
  /** A forward POST whose messages were not all accepted (an earlier POST missing, or the session ending): not acknowledged, the client sends them again. */
  NOT_ACCEPTED: { statusCode: 503, code: 'FST_WEBCHANNEL_NOT_ACCEPTED', message: 'Messages not accepted; send them again' },
} as const satisfies Record<string, Refusal>

/** A catalogue refusal with a more precise message. */
export function refusal (base: Refusal, message: string = base.message, retryAfter?: number): Refusal {
  return retryAfter === undefined ? { statusCode: base.statusCode, code: base.code, message } : { statusCode: base.statusCode, code: base.code, message, retryAfter }
}

/**
 * The WebChannel client recognises an unknown session only by this body (an
 * HTML page with "Unknown SID" after index 0), status 400; JSON would not do.
 * A foreign principal's SID gets the same answer, so it learns nothing.
 */
export const UNKNOWN_SID = { statusCode: 400, body: '<html><body><h1>Unknown SID</h1></body></html>' } as const

/** An upgrade whose Fastify hooks did not finish within `websocket.handshakeTimeout`: a bare status line, no route ran. */
export const HANDSHAKE_TIMEOUT_STATUS = 408

// ---- 3. wire error codes -------------------------------------------------

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
  /** Too many requests in flight for this session (`maxInflightRequests`). */
  TOO_MANY_REQUESTS: 'WEBCHANNEL_TOO_MANY_REQUESTS',
  /** Subscription refused: undeclared channel or authorize said no (never says which). */
  FORBIDDEN: 'WEBCHANNEL_FORBIDDEN',
  /** The request id is already in flight on this session. */
  BAD_REQUEST: 'WEBCHANNEL_BAD_REQUEST',
  /** The server is shutting down and takes no new requests. */
  SHUTTING_DOWN: 'WEBCHANNEL_SHUTTING_DOWN',
  /** The session sent more messages than `rateLimit.messages` allows. */
  RATE_LIMITED: 'WEBCHANNEL_RATE_LIMITED',
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

// ---- 4. WebSocket close codes ----------------------------------------------

/** WebSocket close codes this library sends (or `ws` sends on its behalf). */
export const CloseCode = {
  /** `session.close()` without a code. */
  NORMAL: 1000,
  /** `app.close()` (the `closeCode` option's default); a WebChannel session that expired. */
  GOING_AWAY: 1001,
  /** A frame that breaks the WebSocket protocol (sent by ws). */
  PROTOCOL_ERROR: 1002,
  /** A text frame that is not valid UTF-8 (sent by ws). */
  INVALID_PAYLOAD: 1007,
  /** The principal's authentication expired, or (with `rateLimit.onMessageLimit: 'close'`) too many messages. */
  POLICY_VIOLATION: 1008,
  /** A message over `websocket.maxMessageSize`, counted after inflating. */
  MESSAGE_TOO_BIG: 1009,
  /** `onConnection` threw, or a handshake message was refused. */
  INTERNAL_ERROR: 1011,
  /** Slow consumer: too much queued for the peer, or its raw inbox is full. */
  TRY_AGAIN_LATER: 1013,
} as const
export type CloseCode = typeof CloseCode[keyof typeof CloseCode]

// ---- the catalogue ----------------------------------------------------------

export type CatalogueKind = 'thrown' | 'http' | 'wire' | 'close'

export interface CatalogueEntry {
  kind: CatalogueKind
  /** The code as the app or client sees it (a close code as its number). */
  code: string
  /** HTTP status, for `http` entries. */
  status?: number
}

/** Every code above, for docs and tests. */
export function catalogue (): CatalogueEntry[] {
  const out: CatalogueEntry[] = []
  const thrown = [
    FST_WEBCHANNEL_INVALID_OPTION, FST_WEBCHANNEL_DUPLICATE_HANDLER, FST_WEBCHANNEL_DUPLICATE_RAW_HANDLER,
    FST_WEBCHANNEL_RESERVED_EVENT, FST_WEBCHANNEL_INVALID_SCHEMA, FST_WEBCHANNEL_DUPLICATE_CHANNEL,
    FST_WEBCHANNEL_INVALID_TARGET, FST_WEBCHANNEL_WEBSOCKET_REGISTERED, FST_WEBCHANNEL_SESSION_CLOSED,
    FST_WEBCHANNEL_SESSION_NOT_LOCAL, FST_WEBCHANNEL_REQUEST_TIMEOUT, FST_WEBCHANNEL_ADAPTER_TIMEOUT,
    FST_WEBCHANNEL_ADAPTER_UNAVAILABLE,
  ]
  for (const E of thrown) out.push({ kind: 'thrown', code: new (E as unknown as new () => { code: string })().code })
  for (const r of Object.values(HttpRefusal)) out.push({ kind: 'http', code: r.code, status: r.statusCode })
  out.push({ kind: 'http', code: 'Unknown SID', status: UNKNOWN_SID.statusCode })
  out.push({ kind: 'http', code: 'Request Timeout', status: HANDSHAKE_TIMEOUT_STATUS })
  for (const code of Object.values(WireErrorCode)) out.push({ kind: 'wire', code })
  for (const code of Object.values(CloseCode)) out.push({ kind: 'close', code: String(code) })
  return out
}
