import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { decodeEnvelope, encodeEvent, parseEnvelope, type Inbound } from '../codecs/envelope.js'
import { CloseCode, FST_WEBCHANNEL_SESSION_CLOSED } from '../errors.js'
import { OutboundMessage, type EndReason, type Transport, type TransportKind, type TransportSink } from '../transports/transport.js'
import { Inbox, type RawMessage } from './inbox.js'
import type { Principal } from './principal.js'
import type { Meter } from './meter.js'
import type { TokenBucket } from './token-bucket.js'

/** A handler attached to one session (`session.on`): (ctx, ...args), untyped: arguments come as sent. */
export type SessionHandler = (ctx: any, ...args: any[]) => unknown

/**
 * The layer above a session (the event router and the hub): where its inbound
 * traffic and its end go, and where the event API on the session (handlers of
 * its own, requests to the client) is kept. A session holds no event state.
 */
export interface SessionOwner {
  /** Route one decoded envelope. undefined: accepted synchronously; else settles when the app accepted or refused it. */
  dispatch (session: Session, inbound: Inbound): Promise<void> | undefined
  /** A message the event layer does not claim (non-envelope, binary, `ws-wrapper:false`). */
  raw (session: Session, message: RawMessage): void
  /** A WebSocket message over the session's rate (`limiter`): refuse it or close the session. */
  overLimit (session: Session, message: string | Buffer): void
  /** The session ended; free memberships and tell the app. Called once. */
  ended (session: Session, reason: EndReason, code: number, detail: string): void
  /** A server→client request on `channel` (null: main); resolves with the client's answer. */
  request (session: Session, channel: string | null, event: string, args: unknown[], timeout?: number): Promise<unknown>
  /** A handler for this session only (it runs before the server-wide ones). */
  handle (session: Session, channel: string | null, event: string, fn: SessionHandler, once: boolean): void
  unhandle (session: Session, channel: string | null, event: string): void
}

export interface SessionInit {
  id: string
  transport: Transport
  request: FastifyRequest
  principal: unknown
  subprotocol: string | null
  owner: SessionOwner
  /** Whether ws-wrapper envelopes are decoded (false: every message is raw). */
  events: boolean
  /** Cap on raw messages waiting for a `messages()` reader. */
  inboxLimit: number
  /** The session's inbound message rate; null: unlimited. */
  limiter: TokenBucket | null
  /** Counters, when metrics are on. */
  meter: Meter | null
  /** The session continues one another instance served (a shared session store). */
  resumed?: boolean
}

/** One channel of one session, as `session.of(name)` returns it. */
export class SessionChannel {
  readonly session: Session
  readonly name: string | null
  constructor (session: Session, name: string | null) {
    this.session = session
    this.name = name
  }

  emit (event: string, ...args: unknown[]): boolean {
    return this.session.send(new OutboundMessage(encodeEvent(this.name, event, args)))
  }

  request (event: string, ...args: unknown[]): Promise<unknown> {
    return this.session.requestOn(this.name, event, args)
  }

  on (event: string, fn: SessionHandler): this {
    this.session.handle(this.name, event, fn, false)
    return this
  }

  once (event: string, fn: SessionHandler): this {
    this.session.handle(this.name, event, fn, true)
    return this
  }

  off (event: string): this {
    this.session.unhandle(this.name, event)
    return this
  }
}

/**
 * A client's session: one connection, whatever its transport. It owns the
 * identity, the principal, the app's per-session state, sending and closing,
 * and the lifecycle (its end reason, its abort signal). What arrives is handed
 * to its owner, the event layer; a session keeps no event state itself.
 */
export class Session implements TransportSink {
  readonly id: string
  readonly kind: TransportKind
  readonly transport: Transport
  /** The request that opened the session, after the app's hooks ran. */
  readonly request: FastifyRequest
  /** Whatever the app's hooks established as the caller (see the `principal` option); null when none. */
  readonly principal: Principal | null
  readonly subprotocol: string | null
  /**
   * true: this instance continues a session another instance opened (its
   * owner shut down or died). Its id, principal and channels carry over;
   * `data` and per-session handlers start empty, so onConnection sets them up again.
   */
  readonly resumed: boolean
  readonly createdAt = Date.now()
  // Idle sessions are the common case: everything below is allocated on first use.
  private _data: Record<string, unknown> | null = null
  private _channels: Set<string> | null = null
  private _log: FastifyBaseLogger | null = null
  private readonly owner: SessionOwner
  private readonly events: boolean
  private abort: AbortController | null = null
  private inbox: Inbox | null = null
  private readonly inboxLimit: number
  private readonly limiter: TokenBucket | null
  private readonly meter: Meter | null
  private end: { reason: EndReason, code: number, detail: string } | null = null

  constructor (init: SessionInit) {
    this.id = init.id
    this.transport = init.transport
    this.kind = init.transport.kind
    this.request = init.request
    this.principal = init.principal as Principal | null
    this.subprotocol = init.subprotocol
    this.resumed = init.resumed ?? false
    this.owner = init.owner
    this.events = init.events
    this.inboxLimit = init.inboxLimit
    this.limiter = init.limiter
    this.meter = init.meter
  }

  /** Aborted when the session ends. */
  get signal (): AbortSignal {
    if (this.abort === null) {
      this.abort = new AbortController()
      if (this.end !== null) this.abort.abort(this.end.reason)
    }
    return this.abort.signal
  }

  /** Free-form per-session state for the app. */
  get data (): Record<string, unknown> {
    if (this._data === null) this._data = Object.create(null) as Record<string, unknown>
    return this._data
  }

  /** Channels this session is subscribed to. */
  get channels (): ReadonlySet<string> {
    return this._channels ?? NO_CHANNELS
  }

  /** @internal the channel registry's membership bookkeeping. */
  addChannel (name: string): void {
    if (this._channels === null) this._channels = new Set()
    this._channels.add(name)
    this.transport.membership?.(name, true)
  }

  /** @internal */
  removeChannel (name: string): boolean {
    const had = this._channels?.delete(name) ?? false
    if (had) this.transport.membership?.(name, false)
    return had
  }

  /** @internal */
  clearChannels (): void {
    this._channels = null
  }

  get closed (): boolean { return this.end !== null }
  /** Why the session ended, once it has. */
  get endReason (): EndReason | null { return this.end?.reason ?? null }
  /** A pino child of the opening request's logger, bound to `session` (the id's first 8 characters). */
  get log (): FastifyBaseLogger {
    if (this._log === null) this._log = this.request.log.child({ session: this.id.slice(0, 8) })
    return this._log
  }

  // ---- outbound -------------------------------------------------------

  /** Send a prepared message; false if the session is closed or the peer is too slow. */
  send (message: OutboundMessage): boolean {
    const ok = this.end === null && this.transport.send(message)
    this.meter?.sent(this.kind, message.binary?.length ?? message.json.length, ok)
    return ok
  }

  /** Emit an event on the main channel. */
  emit (event: string, ...args: unknown[]): boolean {
    return this.send(new OutboundMessage(encodeEvent(null, event, args)))
  }

  /** Low-level: send text as it is (no envelope). */
  sendRaw (text: string): boolean {
    return this.send(new OutboundMessage(text, null, true))
  }

  /** Low-level: send a binary frame (WebSocket sessions only). */
  sendBinary (data: Buffer): boolean {
    if (this.kind !== 'websocket') return false
    return this.send(new OutboundMessage('', data))
  }

  /** Close the session from the server side. */
  close (code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.end !== null) return
    this.transport.close(code, reason, 'server-close')
  }

  // ---- the event API, kept by the owner (the event layer) ----------------

  /** Send a request to the client on the main channel; resolves with its response. */
  requestClient (event: string, ...args: unknown[]): Promise<unknown> {
    return this.owner.request(this, null, event, args)
  }

  /** A request on a named channel, with an optional timeout in ms (default: the `requestTimeout` option). */
  requestOn (channel: string | null, event: string, args: unknown[], timeout?: number): Promise<unknown> {
    return this.owner.request(this, channel, event, args, timeout)
  }

  of (channel: string): SessionChannel {
    return new SessionChannel(this, channel)
  }

  /** A handler for this session only; it runs before the server-wide one. */
  on (event: string, fn: SessionHandler): this {
    this.owner.handle(this, null, event, fn, false)
    return this
  }

  once (event: string, fn: SessionHandler): this {
    this.owner.handle(this, null, event, fn, true)
    return this
  }

  off (event: string): this {
    this.owner.unhandle(this, null, event)
    return this
  }

  /** @internal SessionChannel's way in. */
  handle (channel: string | null, event: string, fn: SessionHandler, once: boolean): void {
    this.owner.handle(this, channel, event, fn, once)
  }

  /** @internal */
  unhandle (channel: string | null, event: string): void {
    this.owner.unhandle(this, channel, event)
  }

  // ---- raw inbound ----------------------------------------------------

  /** Raw inbound messages that the event layer did not claim, for `for await`. */
  messages (): AsyncIterable<RawMessage> {
    if (this.inbox === null) {
      this.inbox = new Inbox(this.inboxLimit)
      if (this.end !== null) this.inbox.end()
    }
    return this.inbox
  }

  /** Called by the owner for unclaimed messages. */
  pushRaw (message: RawMessage): void {
    if (this.inbox !== null && !this.inbox.push(message)) {
      this.transport.close(CloseCode.TRY_AGAIN_LATER, 'Inbound queue full', 'error')
    }
  }

  // ---- TransportSink --------------------------------------------------

  /** 0 when `count` more messages may come in now, else the seconds to wait (WebChannel takes a POST's maps at once). */
  admit (count: number): number {
    if (this.limiter === null || count === 0 || this.limiter.take(count)) return 0
    return this.limiter.retryAfter(count)
  }

  receive (message: string | Record<string, unknown>): Promise<void> | undefined {
    if (this.end !== null) return Promise.reject(new FST_WEBCHANNEL_SESSION_CLOSED(this.id))
    // WebSocket messages are counted one by one; WebChannel's were admitted with their POST.
    if (this.limiter !== null && this.kind === 'websocket' && !this.limiter.take()) {
      this.owner.overLimit(this, message as string)
      return undefined
    }
    this.meter?.received(this.kind, typeof message === 'string' ? message.length : 0)
    if (!this.events) {
      this.owner.raw(this, message)
      return undefined
    }
    const inbound = typeof message === 'string' ? parseEnvelope(message) : decodeEnvelope(message)
    if (inbound.kind === 'ignored') {
      this.owner.raw(this, message)
      return undefined
    }
    return this.owner.dispatch(this, inbound)
  }

  receiveBinary (data: Buffer): void {
    if (this.end !== null) return
    if (this.limiter !== null && !this.limiter.take()) this.owner.overLimit(this, data)
    else this.owner.raw(this, data)
  }

  ended (reason: EndReason, code: number, detail: string): void {
    if (this.end !== null) return
    this.end = { reason, code, detail }
    this.inbox?.end()
    this.abort?.abort(reason)
    this.owner.ended(this, reason, code, detail)
  }
}

const NO_CHANNELS: ReadonlySet<string> = new Set()
