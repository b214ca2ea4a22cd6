import type { FastifyRequest } from 'fastify'
import { decodeEnvelope, encodeEvent, encodeRequest, parseEnvelope, type Inbound } from '../codecs/envelope.js'
import { FST_WEBCHANNEL_REQUEST_TIMEOUT, FST_WEBCHANNEL_SESSION_CLOSED } from '../errors.js'
import { OutboundMessage, type EndReason, type Transport, type TransportKind, type TransportSink } from '../transports/transport.js'
import { Inbox, type RawMessage } from './inbox.js'
import type { Principal } from './principal.js'

/** A handler attached to one session (`session.on`): (ctx, ...args), untyped: arguments come as sent. */
export type SessionHandler = (ctx: any, ...args: any[]) => unknown

/** A session's handlers for one event: a one-time handler runs before the standing one. */
interface LocalHandlers { once: SessionHandler | null, on: SessionHandler | null }

/** What the layer above (the hub and its event router) does with a session's traffic. */
export interface SessionOwner {
  /** Route one decoded envelope. Resolves when the app accepted it. */
  /** undefined: accepted synchronously; otherwise settles when the app accepted or refused it. */
  dispatch (session: Session, inbound: Inbound): Promise<void> | undefined
  /** A message the event layer does not claim (non-envelope, binary, `ws-wrapper:false`). */
  raw (session: Session, message: RawMessage): void
  /** The session ended; free memberships and tell the app. Called once. */
  ended (session: Session, reason: EndReason, code: number, detail: string): void
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
  /** Default timeout for server→client requests, in ms (0: none). */
  requestTimeout: number
}

interface PendingRequest {
  resolve: (v: unknown) => void
  reject: (e: unknown) => void
  timer: NodeJS.Timeout | null
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
    this.session.addHandler(this.name, event, fn, false)
    return this
  }

  once (event: string, fn: SessionHandler): this {
    this.session.addHandler(this.name, event, fn, true)
    return this
  }

  off (event: string): this {
    this.session.removeHandler(this.name, event)
    return this
  }
}

/**
 * A client's session: transport-agnostic. It owns identity, the principal, the
 * app's per-session state, its channel memberships, its own handlers, the
 * server→client requests in flight, and the end reason.
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
  readonly createdAt = Date.now()
  // Idle sessions are the common case: everything below is allocated on first use.
  private _data: Record<string, unknown> | null = null
  private _channels: Set<string> | null = null
  /** Requests from this client that are being handled now. Managed by the router. */
  inflight = 0

  private readonly owner: SessionOwner
  private readonly events: boolean
  private readonly requestTimeout: number
  private abort: AbortController | null = null
  private handlers: Map<string, LocalHandlers> | null = null
  private pending: Map<number, PendingRequest> | null = null
  private lastRequestId = 0
  private inbox: Inbox | null = null
  private readonly inboxLimit: number
  private end: { reason: EndReason, code: number, detail: string } | null = null

  constructor (init: SessionInit) {
    this.id = init.id
    this.transport = init.transport
    this.kind = init.transport.kind
    this.request = init.request
    this.principal = init.principal as Principal | null
    this.subprotocol = init.subprotocol
    this.owner = init.owner
    this.events = init.events
    this.inboxLimit = init.inboxLimit
    this.requestTimeout = init.requestTimeout
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

  /** @internal the hub's membership bookkeeping. */
  addChannel (name: string): void {
    if (this._channels === null) this._channels = new Set()
    this._channels.add(name)
  }

  /** @internal */
  removeChannel (name: string): boolean {
    return this._channels?.delete(name) ?? false
  }

  /** @internal */
  clearChannels (): void {
    this._channels = null
  }

  get closed (): boolean { return this.end !== null }
  /** Why the session ended, once it has. */
  get endReason (): EndReason | null { return this.end?.reason ?? null }
  get log () { return this.request.log }

  // ---- outbound -------------------------------------------------------

  /** Send a prepared message; false if the session is closed or the peer is too slow. */
  send (message: OutboundMessage): boolean {
    if (this.end !== null) return false
    return this.transport.send(message)
  }

  /** Emit an event on the main channel. */
  emit (event: string, ...args: unknown[]): boolean {
    return this.send(new OutboundMessage(encodeEvent(null, event, args)))
  }

  /** Send a request to the client on the main channel; resolves with its response. */
  requestClient (event: string, ...args: unknown[]): Promise<unknown> {
    return this.requestOn(null, event, args)
  }

  of (channel: string): SessionChannel {
    return new SessionChannel(this, channel)
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

  requestOn (channel: string | null, event: string, args: unknown[], timeout = this.requestTimeout): Promise<unknown> {
    if (this.end !== null) return Promise.reject(new FST_WEBCHANNEL_SESSION_CLOSED(this.id))
    const id = ++this.lastRequestId
    return new Promise((resolve, reject) => {
      const entry: PendingRequest = { resolve, reject, timer: null }
      if (timeout > 0) {
        entry.timer = setTimeout(() => {
          this.pending?.delete(id)
          reject(new FST_WEBCHANNEL_REQUEST_TIMEOUT(event))
        }, timeout)
      }
      if (this.pending === null) this.pending = new Map()
      this.pending.set(id, entry)
      if (!this.send(new OutboundMessage(encodeRequest(channel, event, args, id)))) {
        this.settle(id)
        reject(new FST_WEBCHANNEL_SESSION_CLOSED(this.id))
      }
    })
  }

  /** Close the session from the server side. */
  close (code = 1000, reason = ''): void {
    if (this.end !== null) return
    this.transport.close(code, reason, 'server-close')
  }

  // ---- per-session handlers (highest priority in the router) -----------

  addHandler (channel: string | null, event: string, fn: SessionHandler, once: boolean): void {
    const key = handlerKey(channel, event)
    if (this.handlers === null) this.handlers = new Map()
    let h = this.handlers.get(key)
    if (h === undefined) {
      h = { once: null, on: null }
      this.handlers.set(key, h)
    }
    if (once) h.once = fn
    else h.on = fn
  }

  removeHandler (channel: string | null, event: string): void {
    this.handlers?.delete(handlerKey(channel, event))
  }

  on (event: string, fn: SessionHandler): this {
    this.addHandler(null, event, fn, false)
    return this
  }

  once (event: string, fn: SessionHandler): this {
    this.addHandler(null, event, fn, true)
    return this
  }

  /** The session's own handler for an event, consumed if it was added with once(). */
  takeHandler (channel: string | null, event: string): SessionHandler | undefined {
    if (this.handlers === null) return undefined
    const key = handlerKey(channel, event)
    const h = this.handlers.get(key)
    if (h === undefined) return undefined
    const once = h.once
    if (once === null) return h.on ?? undefined
    h.once = null
    if (h.on === null) this.handlers.delete(key)
    return once
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

  /** Called by the hub for unclaimed messages. */
  pushRaw (message: RawMessage): void {
    if (this.inbox !== null && !this.inbox.push(message)) {
      this.transport.close(1013, 'Inbound queue full', 'error')
    }
  }

  // ---- TransportSink --------------------------------------------------

  receive (message: string | Record<string, unknown>): Promise<void> | undefined {
    if (this.end !== null) return Promise.reject(new FST_WEBCHANNEL_SESSION_CLOSED(this.id))
    if (!this.events) {
      this.owner.raw(this, message)
      return undefined
    }
    const inbound = typeof message === 'string' ? parseEnvelope(message) : decodeEnvelope(message)
    switch (inbound.kind) {
      case 'ignored':
        this.owner.raw(this, message)
        return undefined
      case 'resolve':
      case 'reject':
        this.answer(inbound)
        return undefined
      default:
        return this.owner.dispatch(this, inbound)
    }
  }

  receiveBinary (data: Buffer): void {
    if (this.end === null) this.owner.raw(this, data)
  }

  ended (reason: EndReason, code: number, detail: string): void {
    if (this.end !== null) return
    this.end = { reason, code, detail }
    if (this.pending !== null) {
      for (const [id, p] of this.pending) {
        this.settle(id)
        p.reject(new FST_WEBCHANNEL_SESSION_CLOSED(this.id))
      }
    }
    this.handlers = null
    this.inbox?.end()
    this.abort?.abort(reason)
    this.owner.ended(this, reason, code, detail)
  }

  private answer (inbound: Extract<Inbound, { kind: 'resolve' | 'reject' }>): void {
    const p = this.pending?.get(inbound.id)
    if (p === undefined) return
    this.settle(inbound.id)
    if (inbound.kind === 'resolve') {
      p.resolve(inbound.data)
    } else {
      const e = inbound.error
      const err = new Error(typeof e === 'object' && e !== null && typeof (e as { message?: unknown }).message === 'string'
        ? (e as { message: string }).message
        : String(e))
      if (typeof e === 'object' && e !== null) Object.assign(err, e)
      p.reject(err)
    }
  }

  private settle (id: number): void {
    const p = this.pending?.get(id)
    if (p === undefined) return
    if (p.timer !== null) clearTimeout(p.timer)
    this.pending!.delete(id)
  }
}

const NO_CHANNELS: ReadonlySet<string> = new Set()

function handlerKey (channel: string | null, event: string): string {
  return channel === null ? event : channel + '\u0000' + event
}
