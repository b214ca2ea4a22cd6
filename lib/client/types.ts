import type { ArgsOf, EventSchema, ResultOf } from '../events/schema.js'
import type { BackoffOptions } from './backoff.js'
import type { HeartbeatOptions } from './heartbeat.js'
import type { ClientError } from './errors.js'

export type { EventSchema, ArgsOf, ResultOf }

/** The transports the server offers. */
export type TransportKind = 'websocket' | 'webchannel'

/** Event schemas by name, as `defineEvents({...})` declares them for the server. */
export type EventMap = Record<string, EventSchema>

/** Names declared in `E` (any string when `E` is the untyped default). */
export type EventName<E extends EventMap> = Extract<keyof E, string>

/** Argument tuple of event `K`: from its TypeBox `args`, else `unknown[]`. */
export type EventArgs<E extends EventMap, K extends string> = K extends keyof E ? ArgsOf<E[K]> : unknown[]

/** What a request for `K` resolves with: from its `response` schema, else `unknown`. */
export type EventResult<E extends EventMap, K extends string> = K extends keyof E ? ResultOf<E[K]> : unknown

/** A listener for event `K`. For a request from the server, its return value (or promise) is the answer. */
export type EventListener<E extends EventMap, K extends string> = (...args: EventArgs<E, K>) => unknown

/** Declare events once, in a module both the server and the client import. Returns its argument. */
export function defineEvents<const T extends EventMap> (events: T): T {
  return events
}

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface OpenInfo {
  transport: TransportKind
  /** False for the first connection, true after a reconnect. */
  reconnected: boolean
  /**
   * True when a WebSocket reconnect resumed the same session: nothing was missed,
   * the server kept its state. False after a reconnect that had to start a new session.
   */
  resumed: boolean
  /** Channels re-subscribed after a reconnect (refusals are reported as `error` events). */
  restored: string[]
}

export interface CloseInfo {
  /** WebSocket close code (WebChannel: 1000 for a clean close, 1006 for an error). */
  code: number
  reason: string
  transport: TransportKind
  /** Whether the client is about to reconnect. */
  willReconnect: boolean
}

export interface ReconnectInfo {
  /** 1 for the first attempt after a drop. */
  attempt: number
  /** Milliseconds until the attempt starts. */
  delay: number
}

export interface TransportChange {
  transport: TransportKind
  previous: TransportKind | null
}

/** Connection events. On the client they share `on`/`once`/`off` with the main channel's wire events. */
export interface LifecycleEvents {
  /** Connected; after a reconnect, once the subscriptions were restored. */
  open: (info: OpenInfo) => void
  /** The connection ended. */
  close: (info: CloseInfo) => void
  /** Something went wrong that no promise reports (a failed attempt, a lost subscription, a throwing listener). */
  error: (error: ClientError) => void
  /** A reconnect attempt is scheduled. */
  reconnecting: (info: ReconnectInfo) => void
  /** The live transport changed (also fires on the first open). */
  transport: (change: TransportChange) => void
  /** Every state change. */
  state: (state: ConnectionState) => void
}
export type LifecycleEvent = keyof LifecycleEvents

/** Per-request options. */
export interface RequestOptions {
  /** Milliseconds until the request fails with WEBCHANNEL_CLIENT_TIMEOUT; 0 for none. Default: the client's `requestTimeout`. */
  timeout?: number
  /** Abort the wait (the request fails with WEBCHANNEL_CLIENT_ABORTED; a sent request may still run on the server). */
  signal?: AbortSignal
  /** Safe to send twice: if the connection drops before the answer, the request is sent again after the reconnect instead of failing. */
  idempotent?: boolean
}

/** Any WebSocket constructor with the WHATWG API: the browser's, Node 22's global, or the `ws` package's. */
export type WebSocketConstructor = new (url: string) => object

/** The module `@firebase/webchannel-wrapper/webchannel-blob`, or a stand-in with the same shape. */
export interface WebChannelModule {
  createWebChannelTransport (): { createWebChannel (url: string, options: object): object }
  WebChannel: { EventType: { OPEN: string, CLOSE: string, ERROR: string, MESSAGE: string } }
}

export interface ClientOptions {
  /** 'auto' (default): WebSocket, falling back to WebChannel; or force one. */
  transport?: 'auto' | TransportKind
  /** In 'auto', give up on a WebSocket that has not opened after this many ms and fall back. Default 3000. */
  fallbackAfter?: number
  /** Any single connection attempt that has not opened after this many ms fails. Default 15000. */
  connectTimeout?: number
  /** Default request timeout in ms; 0 for none. Default 10000. */
  requestTimeout?: number
  /** Reconnect after a drop: false to stop, or backoff settings. Default true. A 401/403 refusal is never retried. */
  reconnect?: boolean | BackoffOptions
  /**
   * WebSocket resume: after a drop, reconnect to the same session (within the server's
   * `websocket.resume.window`) and receive every message sent meanwhile, once and in order.
   * Default true; a server that does not offer it is used as before.
   */
  resume?: boolean
  /**
   * WebSocket liveness: after `interval` ms with nothing received the client
   * sends a request (to the reserved name `connect`, answered at once by the
   * server) and drops the link, then reconnects, if nothing arrives within
   * `timeout` ms. Default `{ interval: 25000, timeout: 10000 }`; false turns it off.
   * WebChannel has its own watchdog (1.5 × the server's keepalive).
   */
  heartbeat?: boolean | HeartbeatOptions
  /**
   * In 'auto' mode, after falling back to WebChannel, try WebSocket again every
   * this many ms and move to it once it opens (when no request is in flight):
   * subscriptions are restored on the new connection, as after a reconnect.
   * Default 60000; 0 never goes back.
   */
  probeWebSocket?: number
  /**
   * Auth token (or a function called before every attempt, to refresh it).
   * WebSocket: `?token=`. WebChannel: the same URL parameter on every request, or
   * `Authorization: Bearer` with `webchannelAuth: 'header'`. Cookies need nothing: browsers send them.
   */
  token?: string | null | (() => string | null | Promise<string | null>)
  /** Query parameter name for the token. Default 'token'. */
  tokenParam?: string
  /** How WebChannel carries the token: 'query' (default; covers the terminate beacon too) or 'header'. */
  webchannelAuth?: 'query' | 'header'
  /** Path of the WebSocket route under the base URL. Default '/ws'. */
  websocketPath?: string
  /** WebSocket constructor; default `globalThis.WebSocket` (in Node 20 pass the `ws` package's). */
  WebSocket?: WebSocketConstructor
  /**
   * Loads the WebChannel client on first use. Default in `fastify-webchannel/client`:
   * `import('@firebase/webchannel-wrapper/webchannel-blob')`. `fastify-webchannel/client/websocket`
   * has no default: without this option it never uses WebChannel ('auto' is WebSocket only).
   */
  loadWebChannel?: () => Promise<WebChannelModule>
  /** WebChannel tuning passed to `createWebChannel`. */
  webchannel?: {
    /** Long polling instead of streaming (some proxies buffer streams). */
    forceLongPolling?: boolean
    /** Back channel over `fetch` streams (Node without a streaming XMLHttpRequest). */
    useFetchStreams?: boolean
    /** Sticky-routing parameter name (see the server's WebChannel docs). */
    httpSessionIdParam?: string
    /** Send cookies cross-origin (withCredentials). */
    withCredentials?: boolean
    /**
     * Base delay in ms of the WebChannel client's own retries of a failed request
     * (retry n waits between n × retryDelay and n × 2 × retryDelay; the first
     * back-channel retry is immediate). Default 1000: a server that went away
     * between two polls is noticed within about 6 s, then `reconnect` takes over.
     * Closure's own default, 5000, takes 15–45 s.
     */
    retryDelay?: number
    /**
     * Closure's buffering-proxy detection: if the first streaming back channel
     * shows no bytes within two handshake round trips, the client switches to
     * long polls for the session (nothing is lost: the server resends what was
     * not acknowledged). Default true; ignored with forceLongPolling.
     */
    detectBufferingProxy?: boolean
    /**
     * The client's own watch for a buffering proxy, which backs up closure's:
     * a streaming back channel with no byte for this many ms (the server
     * writes one at once), or one closure gave up on without a byte, is
     * retried, and every later back channel is a long poll. Default 3000; 0 turns it off.
     */
    streamTimeout?: number
  }
  /** Messages kept while disconnected (emits and not-yet-sent requests); more fail with WEBCHANNEL_CLIENT_QUEUE_FULL. Default 1000. */
  maxQueued?: number
}
