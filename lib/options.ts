import type { FastifyRequest } from 'fastify'
import { FST_WEBCHANNEL_INVALID_OPTION } from './errors.js'
import type { Adapter, AdapterEvent } from './hub/adapter.js'
import type { SessionStore } from './store/session-store.js'
import type { AsyncApiOptions } from './plugin/asyncapi.js'
import { samePrincipal } from './session/principal.js'
import type { Session } from './session/session.js'
import type { EndReason } from './transports/transport.js'

/** Who may open a session from a browser: compared as parsed origins (scheme://host:port). */
export type OriginOption =
  | 'same-origin'
  | '*'
  | string
  | RegExp
  | ReadonlyArray<string | RegExp>
  | ((origin: string, request: FastifyRequest) => boolean)

export interface WebSocketOptions {
  /** Serve the WebSocket transport. Default true. */
  enabled?: boolean
  /** Path under `prefix`. Default '/ws'. */
  path?: string
  /** Subprotocols the server speaks, in order of preference. Default [] (none negotiated). */
  subprotocols?: string[]
  /** Refuse an upgrade that offers none of `subprotocols` (HTTP 400). Default false. */
  requireSubprotocol?: boolean
  /** Largest inbound message in bytes, after decompression; larger closes with 1009. Default 1 MiB. */
  maxMessageSize?: number
  /** Ping every so many ms; 0 disables. Default 30000. */
  pingInterval?: number
  /**
   * Sessions that survive a dropped socket, for clients that ask (the project's client does; plain
   * ws-wrapper clients are unaffected). `window`: how long a session waits for its client to come back
   * (ms, default 30000); `maxBytes`: sent messages kept for a replay until the client acknowledges them
   * (default 1 MiB; a client that missed more gets a fresh session and is told so). false: never.
   */
  resume?: false | { window?: number, maxBytes?: number }
  /** Terminate a peer that has not answered a ping within this many ms. Default 10000. */
  pongTimeout?: number
  /** An upgrade whose Fastify hooks have not finished in this many ms is refused (HTTP 408). Default 10000. */
  handshakeTimeout?: number
  /** A connection whose queued bytes have not drained for this many ms is terminated. Default 30000. */
  writeTimeout?: number
  /** Bytes queued for one connection before the slow-consumer policy closes it with 1013. Default 4 MiB. */
  maxBufferedBytes?: number
  /** permessage-deflate: false (default) or true / { level, threshold }. */
  perMessageDeflate?: boolean | { level?: number, threshold?: number }
}

export interface CorsOptions {
  /** Exact origins allowed to call the long-poll routes cross-origin. */
  origin: string | string[]
  /** Send Access-Control-Allow-Credentials (the client's supportsCrossDomainXhr). Default false. */
  credentials?: boolean
}

export interface WebChannelTransportOptions {
  /** Serve the WebChannel long-poll transport. Default true. */
  enabled?: boolean
  /** Keepalive: a noop this often on an idle back channel (ms); also sent to the client as c[5]. Default 30000. */
  keepaliveInterval?: number
  /** A streaming back channel is ended after this long and the client reopens it (proxy caps). Default 240000. */
  backChannelMaxAge?: number
  /** An idle long-poll (CI=1) is answered with a noop after this long, or the client's TO if lower. Default 25000. */
  longPollTimeout?: number
  /** A session with no back channel for this long expires. Default 60000. */
  sessionTimeout?: number
  /** Messages queued and unacknowledged per session before it is stopped. Default 10000. */
  maxPendingMessages?: number
  /** Bytes queued and unacknowledged per session before it is stopped. Default 8 MiB. */
  maxPendingBytes?: number
  /** Largest forward POST body in bytes (413 beyond). Default 1 MiB. */
  maxBodySize?: number
  /** Cross-origin clients: off by default. */
  cors?: false | CorsOptions
  /**
   * Headers a client may pass in `$httpHeaders` or the handshake's encoded `headers=`. Default [] (none).
   * `['authorization']` opts in for clients that cannot set headers; cookie, host, origin and hop-by-hop names are refused.
   */
  allowedHeaders?: string[]
  /**
   * gzip the streaming back channel (sync-flushed per chunk) when the client accepts it; also long-poll
   * answers on routes that @fastify/compress does not handle. Default true.
   */
  gzip?: boolean
  /**
   * The channel routes' non-streaming replies (handshake, forward, long-poll answers, /test) and
   * @fastify/compress, when the app registered it before this plugin. true: the app's settings apply as
   * they are; false: the routes opt out; an object: @fastify/compress's route options for these routes
   * (`threshold`, `encodings`…, also the way in with `global: false`). Default true.
   */
  compress?: boolean | Readonly<Record<string, unknown>>
}

/** A token bucket: `rate` a second on average, `burst` at once. */
export interface RateBound {
  rate: number
  burst: number
}

/** Bounds no HTTP rate limiter sees (messages inside a session) and a few it could, built in. */
export interface RateLimitOptions {
  /** Inbound messages per session, both transports. false: off. Default { rate: 100, burst: 1000 } (one full WebChannel POST). */
  messages?: false | RateBound
  /** A WebSocket session over `messages`: 'reject' (error response WEBCHANNEL_RATE_LIMITED, events dropped) or 'close' (1008). Default 'reject'. WebChannel POSTs over it get 429. */
  onMessageLimit?: 'reject' | 'close'
  /** New sessions per client IP (`request.ip`: set trustProxy behind a proxy). Default { rate: 50, burst: 500 }. */
  sessionsPerIp?: false | RateBound
  /** New sessions per principal. Default { rate: 5, burst: 50 }. */
  sessionsPerPrincipal?: false | RateBound
  /** WebChannel requests naming an unknown SID, per client IP (429 beyond). Default { rate: 10, burst: 100 }. */
  unknownSidPerIp?: false | RateBound
}

export interface WebChannelOptions {
  /** URL prefix of every route. Default '/channel'. */
  prefix?: string
  /** Decode ws-wrapper envelopes (events, requests, channels). false: every message goes to the raw API. Default true. */
  events?: boolean
  /** Who opened the request, after the app's hooks ran. Default: `request.user ?? null`. */
  principal?: (request: FastifyRequest) => unknown
  /** Whether two principals are the same caller. Default: equal `id` (or equal value for strings and numbers, equal JSON otherwise). */
  samePrincipal?: (a: unknown, b: unknown) => boolean
  /** Origin check for every transport request. Default 'same-origin'. */
  origin?: OriginOption
  /** Called when a session opens (both transports). May be async. */
  onConnection?: (session: Session) => void | Promise<void>
  /**
   * Asked every `reauthenticateInterval` ms for every open session: false (or a throw) ends it as expired
   * (WebSocket close 1008, WebChannel `stop`). Default: none. A principal's own `expiresAt` (ms or Date) is
   * honoured without it.
   */
  reauthenticate?: (session: Session) => boolean | Promise<boolean>
  /** How often `reauthenticate` runs (ms). Default 60000. */
  reauthenticateInterval?: number
  /** Called once when a session ends, with the reason. */
  onSessionEnd?: (session: Session, reason: EndReason, code: number, detail: string) => void
  /**
   * What the adapter reports: `down` (its bus is unreachable; cross-instance messages are buffered), `up`
   * (connected again, buffer flushed), `drop` (messages given up beyond the buffer's bounds), `error`.
   * Each is also logged. Default: none.
   */
  onAdapterEvent?: (event: AdapterEvent) => void
  /** Handlers get an AbortSignal that fires after this many ms; a request then fails with WEBCHANNEL_TIMEOUT. 0: none. Default 30000. */
  handlerTimeout?: number
  /** Requests from one client being handled at once; more are refused. Default 64. */
  maxInflightRequests?: number
  /** Timeout for server→client requests (ms). Default 30000. */
  requestTimeout?: number
  /** Raw messages waiting for a `session.messages()` reader before the session closes (1013). Default 1024. */
  inboxLimit?: number
  /** Sessions open at once, all transports; more are refused (503). Default 100000. */
  maxSessions?: number
  /** Sessions per principal (null principal not counted); more are refused (429). Default Infinity. */
  maxSessionsPerPrincipal?: number
  /** On app.close(): the WebSocket close code and reason sent to every session. Default 1001, 'Server shutting down'. */
  closeCode?: number
  closeReason?: string
  /** On app.close(): how long to wait for handlers in flight (ms). Default 5000. */
  shutdownTimeout?: number
  /**
   * Serve the AsyncAPI 3 document of the app's events at `path` (default `{prefix}/asyncapi.json`), behind the
   * app's hooks like every route of the plugin; the other fields are `app.webchannel.asyncapi()`'s defaults.
   * Default false (no route).
   */
  asyncapi?: false | (AsyncApiOptions & { path?: string })
  /**
   * An admin route: GET `path` lists the sessions (`inspect()`), DELETE `path/:id` closes one (1000, or
   * `?code=&reason=`). It runs behind the app's own hooks like every route: guard it there. Default false.
   */
  admin?: false | { path: string }
  /**
   * Prometheus metrics through prom-client (install it; it is an optional peer): `true` registers them in
   * prom-client's default registry (where fastify-metrics puts Fastify's), `{ registry }` in yours, and
   * `app.webchannel.metrics()` returns them as Prometheus text. Default false: nothing is counted.
   */
  metrics?: boolean | { registry?: unknown }
  /** Built-in rate limits (429 with Retry-After on HTTP; error responses or 1008 on WebSocket). */
  rateLimit?: RateLimitOptions
  /** Merged into the `config` of every route of the plugin, e.g. `{ rateLimit: {...} }` for @fastify/rate-limit. Default {}. */
  routeConfig?: Record<string, unknown>
  /** Cross-instance fan-out (e.g. `new RedisAdapter({ pub, sub })`). Default: in-memory, this instance only. */
  adapter?: Adapter
  /**
   * Where WebChannel sessions live beyond this instance (e.g. `new RedisSessionStore({ redis, advertise })`):
   * any instance then serves any request of a session (relaying it to the session's owner while that lives,
   * taking the session over when it is gone), and app.close() hands sessions to the other instances instead
   * of closing them. Default null: sessions live in this instance's memory only.
   */
  sessionStore?: SessionStore | null
  websocket?: WebSocketOptions
  webchannel?: WebChannelTransportOptions
}

export type ResolvedOptions = Required<Omit<WebChannelOptions, 'websocket' | 'webchannel' | 'onConnection' | 'onSessionEnd' | 'onAdapterEvent' | 'adapter' | 'sessionStore' | 'reauthenticate' | 'rateLimit' | 'asyncapi'>> & {
  sessionStore: SessionStore | null
  asyncapi: false | (AsyncApiOptions & { path?: string })
  rateLimit: Required<RateLimitOptions>
  adapter: Adapter | null
  reauthenticate: NonNullable<WebChannelOptions['reauthenticate']> | null
  onConnection: NonNullable<WebChannelOptions['onConnection']> | null
  onSessionEnd: NonNullable<WebChannelOptions['onSessionEnd']> | null
  onAdapterEvent: NonNullable<WebChannelOptions['onAdapterEvent']> | null
  websocket: Required<WebSocketOptions>
  webchannel: Required<WebChannelTransportOptions>
}

const MiB = 1024 * 1024

export const defaults: ResolvedOptions = {
  prefix: '/channel',
  events: true,
  principal: (request) => (request as { user?: unknown }).user ?? null,
  samePrincipal,
  origin: 'same-origin',
  onConnection: null,
  onSessionEnd: null,
  onAdapterEvent: null,
  reauthenticate: null,
  reauthenticateInterval: 60_000,
  rateLimit: {
    messages: { rate: 100, burst: 1000 },
    onMessageLimit: 'reject',
    sessionsPerIp: { rate: 50, burst: 500 },
    sessionsPerPrincipal: { rate: 5, burst: 50 },
    unknownSidPerIp: { rate: 10, burst: 100 },
  },
  routeConfig: {},
  asyncapi: false,
  admin: false,
  metrics: false,
  adapter: null,
  sessionStore: null,
  handlerTimeout: 30_000,
  maxInflightRequests: 64,
  requestTimeout: 30_000,
  inboxLimit: 1024,
  maxSessions: 100_000,
  maxSessionsPerPrincipal: Infinity,
  closeCode: 1001,
  closeReason: 'Server shutting down',
  shutdownTimeout: 5000,
  websocket: {
    enabled: true,
    path: '/ws',
    subprotocols: [],
    requireSubprotocol: false,
    maxMessageSize: 1 * MiB,
    pingInterval: 30_000,
    pongTimeout: 10_000,
    handshakeTimeout: 10_000,
    writeTimeout: 30_000,
    maxBufferedBytes: 4 * MiB,
    perMessageDeflate: false,
    resume: { window: 30_000, maxBytes: 1 * MiB },
  },
  webchannel: {
    enabled: true,
    keepaliveInterval: 30_000,
    backChannelMaxAge: 240_000,
    longPollTimeout: 25_000,
    sessionTimeout: 60_000,
    maxPendingMessages: 10_000,
    maxPendingBytes: 8 * MiB,
    maxBodySize: 1 * MiB,
    cors: false,
    allowedHeaders: [],
    gzip: true,
    compress: true,
  },
}

/** Merge over the defaults and check every value; a bad one fails registration. */
export function resolveOptions (opts: WebChannelOptions = {}): ResolvedOptions {
  const o: ResolvedOptions = {
    ...defaults,
    ...stripUndefined(opts),
    websocket: { ...defaults.websocket, ...stripUndefined(opts.websocket ?? {}) },
    webchannel: { ...defaults.webchannel, ...stripUndefined(opts.webchannel ?? {}) },
    rateLimit: { ...defaults.rateLimit, ...stripUndefined(opts.rateLimit ?? {}) },
  } as ResolvedOptions
  checkTopLevel(o)
  checkRateLimit(o.rateLimit)
  checkWebSocket(o.websocket)
  checkWebChannel(o.webchannel)
  return o
}

function checkTopLevel (o: ResolvedOptions): void {
  if (typeof o.prefix !== 'string' || !o.prefix.startsWith('/') || (o.prefix.length > 1 && o.prefix.endsWith('/'))) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('prefix', 'must start with "/" and not end with "/"')
  }
  for (const fn of ['principal', 'samePrincipal'] as const) {
    if (typeof o[fn] !== 'function') throw new FST_WEBCHANNEL_INVALID_OPTION(fn, 'must be a function')
  }
  positive('reauthenticateInterval', o.reauthenticateInterval)
  if (typeof o.routeConfig !== 'object' || o.routeConfig === null) throw new FST_WEBCHANNEL_INVALID_OPTION('routeConfig', 'must be an object')
  if (o.admin !== false && (typeof o.admin !== 'object' || o.admin === null || typeof o.admin.path !== 'string' || !o.admin.path.startsWith('/'))) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('admin', 'must be false or { path: "/..." }')
  }
  for (const fn of ['onConnection', 'onSessionEnd', 'onAdapterEvent', 'reauthenticate'] as const) {
    if (o[fn] !== null && typeof o[fn] !== 'function') throw new FST_WEBCHANNEL_INVALID_OPTION(fn, 'must be a function')
  }
  checkOrigin(o.origin)
  if (o.adapter !== null && (typeof o.adapter !== 'object' || typeof o.adapter.publish !== 'function' ||
      typeof o.adapter.init !== 'function' || typeof o.adapter.count !== 'function')) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('adapter', 'must implement Adapter (init, publish, count, close)')
  }
  if (o.sessionStore !== null && (typeof o.sessionStore !== 'object' || typeof o.sessionStore.route !== 'function' || typeof o.sessionStore.start !== 'function')) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('sessionStore', 'must implement SessionStore (start, stop, create, route, …)')
  }
  nonNegative('handlerTimeout', o.handlerTimeout)
  positive('maxInflightRequests', o.maxInflightRequests)
  nonNegative('requestTimeout', o.requestTimeout)
  positive('inboxLimit', o.inboxLimit)
  positive('maxSessions', o.maxSessions)
  positive('maxSessionsPerPrincipal', o.maxSessionsPerPrincipal)
  nonNegative('shutdownTimeout', o.shutdownTimeout)
  if (!Number.isInteger(o.closeCode) || o.closeCode < 1000 || o.closeCode > 4999 || [1004, 1005, 1006, 1015].includes(o.closeCode)) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('closeCode', 'must be a valid WebSocket close code')
  }
  if (typeof o.closeReason !== 'string' || Buffer.byteLength(o.closeReason) > 123) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('closeReason', 'must be a string of at most 123 bytes')
  }
}

function checkWebSocket (ws: Required<WebSocketOptions>): void {
  if (typeof ws.path !== 'string' || !ws.path.startsWith('/')) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('websocket.path', 'must start with "/"')
  }
  if (!Array.isArray(ws.subprotocols) || !ws.subprotocols.every(p => typeof p === 'string' && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p))) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('websocket.subprotocols', 'must be an array of tokens')
  }
  if (ws.requireSubprotocol && ws.subprotocols.length === 0) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('websocket.requireSubprotocol', 'needs websocket.subprotocols')
  }
  positive('websocket.maxMessageSize', ws.maxMessageSize)
  nonNegative('websocket.pingInterval', ws.pingInterval)
  positive('websocket.pongTimeout', ws.pongTimeout)
  if (ws.resume !== false) {
    if (typeof ws.resume !== 'object' || ws.resume === null) throw new FST_WEBCHANNEL_INVALID_OPTION('websocket.resume', 'must be false or { window, maxBytes }')
    ws.resume = { window: ws.resume.window ?? 30_000, maxBytes: ws.resume.maxBytes ?? MiB }
    positive('websocket.resume.window', ws.resume.window)
    positive('websocket.resume.maxBytes', ws.resume.maxBytes)
  }
  positive('websocket.handshakeTimeout', ws.handshakeTimeout)
  positive('websocket.writeTimeout', ws.writeTimeout)
  positive('websocket.maxBufferedBytes', ws.maxBufferedBytes)
  const pmd = ws.perMessageDeflate
  if (typeof pmd !== 'boolean' && (typeof pmd !== 'object' || pmd === null ||
      (pmd.level !== undefined && (!Number.isInteger(pmd.level) || pmd.level < 0 || pmd.level > 9)))) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('websocket.perMessageDeflate', 'must be a boolean or { level: 0..9, threshold }')
  }
}

// Headers a client must never set through the URL: they decide who is asking
// (cookie), where the request goes (host) or how the connection behaves.
const NEVER_FROM_URL = new Set(['cookie', 'host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding',
  'upgrade', 'te', 'trailer', 'content-length', 'content-encoding', 'proxy-authorization', 'origin'])

function checkWebChannel (wc: Required<WebChannelTransportOptions>): void {
  positive('webchannel.keepaliveInterval', wc.keepaliveInterval)
  positive('webchannel.backChannelMaxAge', wc.backChannelMaxAge)
  positive('webchannel.longPollTimeout', wc.longPollTimeout)
  positive('webchannel.sessionTimeout', wc.sessionTimeout)
  positive('webchannel.maxPendingMessages', wc.maxPendingMessages)
  positive('webchannel.maxPendingBytes', wc.maxPendingBytes)
  positive('webchannel.maxBodySize', wc.maxBodySize)
  if (wc.cors !== false && (typeof wc.cors !== 'object' || wc.cors === null ||
      !(typeof wc.cors.origin === 'string' || (Array.isArray(wc.cors.origin) && wc.cors.origin.every(s => typeof s === 'string'))))) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('webchannel.cors', 'must be false or { origin: string | string[], credentials?: boolean }')
  }
  if (typeof wc.compress !== 'boolean' && (typeof wc.compress !== 'object' || wc.compress === null || Array.isArray(wc.compress))) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('webchannel.compress', 'must be a boolean or @fastify/compress route options')
  }
  if (!Array.isArray(wc.allowedHeaders) || !wc.allowedHeaders.every(h => typeof h === 'string')) {
    throw new FST_WEBCHANNEL_INVALID_OPTION('webchannel.allowedHeaders', 'must be an array of header names')
  }
  wc.allowedHeaders = wc.allowedHeaders.map(h => h.toLowerCase())
  const banned = wc.allowedHeaders.find(h => NEVER_FROM_URL.has(h))
  if (banned !== undefined) throw new FST_WEBCHANNEL_INVALID_OPTION('webchannel.allowedHeaders', `"${banned}" may not come from the URL`)
}

function checkRateLimit (r: Required<RateLimitOptions>): void {
  for (const name of ['messages', 'sessionsPerIp', 'sessionsPerPrincipal', 'unknownSidPerIp'] as const) {
    const b = r[name]
    if (b === false) continue
    if (typeof b !== 'object' || b === null || !(b.rate > 0) || !(b.burst >= 1)) {
      throw new FST_WEBCHANNEL_INVALID_OPTION('rateLimit.' + name, 'must be false or { rate > 0, burst >= 1 }')
    }
  }
  if (r.onMessageLimit !== 'reject' && r.onMessageLimit !== 'close') {
    throw new FST_WEBCHANNEL_INVALID_OPTION('rateLimit.onMessageLimit', "must be 'reject' or 'close'")
  }
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  const out: Partial<T> = {}
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] !== undefined) out[k] = o[k]
  return out
}

function positive (name: string, v: unknown): void {
  if (typeof v !== 'number' || !(v > 0)) throw new FST_WEBCHANNEL_INVALID_OPTION(name, 'must be a positive number')
}

function nonNegative (name: string, v: unknown): void {
  if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v)) throw new FST_WEBCHANNEL_INVALID_OPTION(name, 'must be a number >= 0')
}

function checkOrigin (v: unknown): void {
  const one = (x: unknown) => typeof x === 'string' || x instanceof RegExp
  if (one(v) || typeof v === 'function') return
  if (Array.isArray(v) && v.every(one)) return
  throw new FST_WEBCHANNEL_INVALID_OPTION('origin', "must be 'same-origin', '*', an origin, a RegExp, an array of those, or a function")
}
