import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { Inbound } from '../codecs/envelope.js'
import { CloseCode, FST_WEBCHANNEL_DUPLICATE_RAW_HANDLER, FST_WEBCHANNEL_SESSION_NOT_LOCAL, HttpRefusal, refusal, type Refusal } from '../errors.js'
import { Channels } from '../events/channels.js'
import { Router, type RouterOptions } from '../events/router.js'
import type { RawMessage } from '../session/inbox.js'
import { Meter } from '../session/meter.js'
import { principalKey } from '../session/principal.js'
import { newSessionId } from '../session/session-id.js'
import { Session, type SessionHandler, type SessionOwner } from '../session/session.js'
import type { EndReason, OutboundMessage, Transport, TransportKind } from '../transports/transport.js'
import { MemoryAdapter, type Adapter, type AdapterEvent, type AdapterHealth, type LocalSessions, type Target } from './adapter.js'
import { Expiry, type ExpiryOptions } from './expiry.js'
import { RateLimits, type RateLimitSettings } from './rate-limits.js'

/** The plugin options the hub and the event router read (see options.ts for their documentation). */
export interface HubOptions extends RouterOptions, ExpiryOptions {
  /** Keep counters for metrics. */
  metrics: unknown
  rateLimit: RateLimitSettings & { onMessageLimit: 'reject' | 'close' }
  events: boolean
  inboxLimit: number
  maxSessions: number
  maxSessionsPerPrincipal: number
  onConnection: ((session: Session) => void | Promise<void>) | null
  onSessionEnd: ((session: Session, reason: EndReason, code: number, detail: string) => void) | null
  onAdapterEvent: ((event: AdapterEvent) => void) | null
  shutdownTimeout: number
  closeCode: number
  closeReason: string
}

/** One session as `inspect()` lists it. */
export interface SessionInfo {
  id: string
  transport: TransportKind
  /** The principal's identity (see principalKey): `id:<id>`, `s:<value>`, `j:<json>`, or null. */
  principal: string | null
  ageMs: number
  /** Bytes queued for the peer and not yet taken (WebSocket) or acknowledged (WebChannel). */
  queuedBytes: number
  channels: string[]
}

export interface OpenInit {
  transport: Transport
  request: FastifyRequest
  /** The principal the app's hooks established (the `principal` option's answer). */
  principal: unknown
  subprotocol: string | null
  /** A session that continues a stored one: its id and the channels it was in. */
  resume?: { id: string, channels: readonly string[] }
}

export type RawHandler = (session: Session, message: RawMessage) => void

/**
 * The hub: every live session on this instance, admission, the channel
 * registry and the event router beneath it, and the publish path (through
 * the adapter) for emits to a channel, a session, or everyone. Transports are
 * opened into sessions here; a session's traffic goes down to the router.
 */
export class Hub implements SessionOwner, LocalSessions {
  readonly options: HubOptions
  readonly channels = new Channels()
  readonly router: Router
  readonly sessions = new Map<string, Session>()
  private readonly perPrincipal = new Map<string, number>()
  private readonly ready = new WeakMap<Session, Promise<void>>()
  private readonly closeSteps: Array<() => Promise<void> | void> = []
  private readonly log: FastifyBaseLogger
  private readonly expiry: Expiry
  readonly limits: RateLimits
  /** Counters, when the `metrics` option is on. */
  readonly meter: Meter | null
  private adapter: Adapter = new MemoryAdapter()
  private rawHandler: RawHandler | null = null
  private drained: (() => void) | null = null
  closing = false

  constructor (options: HubOptions, log: FastifyBaseLogger) {
    this.options = options
    this.log = log
    this.router = new Router(options, this.channels)
    this.expiry = new Expiry(options, () => [...this.sessions.values()])
    this.limits = new RateLimits(options.rateLimit)
    this.meter = options.metrics !== false && options.metrics !== undefined ? new Meter() : null
    this.adapter.init(this)
  }

  async setAdapter (adapter: Adapter): Promise<void> {
    await this.adapter.close()
    this.adapter = adapter
    await adapter.init(this)
  }

  // ---- admission and session lifecycle --------------------------------

  /** Session caps and rates, checked before a transport is set up. null: admitted. */
  admit (principal: unknown, ip?: string): Refusal | null {
    if (this.closing) return HttpRefusal.SHUTTING_DOWN
    if (this.sessions.size >= this.options.maxSessions) return HttpRefusal.TOO_MANY_SESSIONS
    const key = principalKey(principal)
    if (key !== null && (this.perPrincipal.get(key) ?? 0) >= this.options.maxSessionsPerPrincipal) {
      return HttpRefusal.TOO_MANY_PRINCIPAL_SESSIONS
    }
    const wait = this.limits.session(ip, principal)
    if (wait > 0) return refusal(HttpRefusal.RATE_LIMITED, 'Too many new sessions', wait)
    return null
  }

  /** Open a session on a transport: attach it, then run onConnection (which may send at once). */
  open (init: OpenInit): Session {
    const session = new Session({
      id: init.resume?.id ?? newSessionId(),
      resumed: init.resume !== undefined,
      transport: init.transport,
      request: init.request,
      principal: init.principal,
      subprotocol: init.subprotocol,
      owner: this,
      events: this.options.events,
      inboxLimit: this.options.inboxLimit,
      limiter: this.limits.messageBucket(),
      meter: this.meter,
    })
    if (this.meter !== null) this.meter.opened[session.kind]++
    this.sessions.set(session.id, session)
    const key = principalKey(init.principal)
    if (key !== null) this.perPrincipal.set(key, (this.perPrincipal.get(key) ?? 0) + 1)
    init.transport.attach(session)
    if (session.closed) return session
    // Already authorised where the session began.
    for (const name of init.resume?.channels ?? []) this.channels.join(session, name)
    this.expiry.watch(session)
    this.connected(session)
    return session
  }

  /** The app's onConnection; frames arriving while an async one runs wait for it. */
  private connected (session: Session): void {
    const onConnection = this.options.onConnection
    if (onConnection === null) return
    const failed = (err: unknown): void => {
      session.log.error({ err }, 'webchannel: onConnection failed')
      session.close(CloseCode.INTERNAL_ERROR, 'Internal error')
    }
    try {
      const r = onConnection(session)
      if (r !== undefined && typeof (r as Promise<void>).then === 'function') {
        const p = Promise.resolve(r).catch(failed).finally(() => this.ready.delete(session))
        this.ready.set(session, p)
      }
    } catch (err) {
      queueMicrotask(() => failed(err))
    }
  }

  get (id: string): Session | undefined {
    return this.sessions.get(id)
  }

  /** Records a transport keeps besides sessions (e.g. WebChannel connections lingering to deliver `close`). */
  private readonly gauges = new Map<string, () => number>()

  addGauge (name: string, read: () => number): void {
    this.gauges.set(name, read)
  }

  /** What this instance holds now: sessions by transport, and each transport's own records. */
  stats (): { sessions: Record<TransportKind, number>, records: Record<string, number> } {
    const sessions: Record<TransportKind, number> = { websocket: 0, webchannel: 0 }
    for (const s of this.sessions.values()) sessions[s.kind]++
    const records: Record<string, number> = {}
    for (const [name, read] of this.gauges) records[name] = read()
    return { sessions, records }
  }

  /** Every live session of this instance, as an operator sees it. */
  inspect (): SessionInfo[] {
    const now = Date.now()
    const out: SessionInfo[] = []
    for (const s of this.sessions.values()) {
      out.push({
        id: s.id,
        transport: s.kind,
        principal: principalKey(s.principal),
        ageMs: now - s.createdAt,
        queuedBytes: s.transport.bufferedAmount,
        channels: [...s.channels],
      })
    }
    return out
  }

  /** A shutdown step run by close() before sessions are closed (e.g. end back channels). */
  onClose (fn: () => Promise<void> | void): void {
    this.closeSteps.push(fn)
  }

  onRaw (fn: RawHandler): void {
    if (this.rawHandler !== null) throw new FST_WEBCHANNEL_DUPLICATE_RAW_HANDLER()
    this.rawHandler = fn
  }

  // ---- SessionOwner: a session's traffic goes down to the router --------

  dispatch (session: Session, inbound: Inbound): Promise<void> | undefined {
    const ready = this.ready.get(session)
    if (ready !== undefined) return ready.then(() => this.router.dispatch(session, inbound))
    return this.router.dispatch(session, inbound)
  }

  request (session: Session, channel: string | null, event: string, args: unknown[], timeout?: number): Promise<unknown> {
    return this.router.request(session, channel, event, args, timeout)
  }

  handle (session: Session, channel: string | null, event: string, fn: SessionHandler, once: boolean): void {
    this.router.handle(session, channel, event, fn, once)
  }

  unhandle (session: Session, channel: string | null, event: string): void {
    this.router.unhandle(session, channel, event)
  }

  /** A WebSocket session over its message rate: refuse the message, or close the session. */
  overLimit (session: Session, message: string | Buffer | Record<string, unknown>): void {
    this.limits.counts.messages++
    if (this.meter !== null) this.meter.dropped['rate-limited']++
    if (this.options.rateLimit.onMessageLimit === 'close') {
      session.log.info('webchannel: message rate exceeded; closing')
      session.transport.close(CloseCode.POLICY_VIOLATION, 'Rate limit exceeded', 'error')
      return
    }
    if (typeof message === 'string') this.router.refuseOverLimit(session, message)
  }

  raw (session: Session, message: RawMessage): void {
    session.pushRaw(message)
    if (this.rawHandler !== null) {
      try {
        this.rawHandler(session, message)
      } catch (err) {
        session.log.error({ err }, 'webchannel: raw message handler threw')
      }
    }
  }

  ended (session: Session, reason: EndReason, code: number, detail: string): void {
    this.channels.leaveAll(session)
    this.router.ended(session)
    this.expiry.forget(session)
    this.meter?.end(session.kind, reason)
    this.sessions.delete(session.id)
    const key = principalKey(session.principal)
    if (key !== null) {
      const n = (this.perPrincipal.get(key) ?? 1) - 1
      if (n <= 0) this.perPrincipal.delete(key)
      else this.perPrincipal.set(key, n)
    }
    session.log.debug({ transport: session.kind, reason, code }, 'webchannel: session ended')
    const hook = this.options.onSessionEnd
    if (hook !== null) {
      try {
        hook(session, reason, code, detail)
      } catch (err) {
        session.log.error({ err }, 'webchannel: onSessionEnd threw')
      }
    }
    if (this.drained !== null && this.sessions.size === 0) this.drained()
  }

  // ---- publishing -----------------------------------------------------

  /** Send one prepared message to a target on every instance. Returns the local delivery count. */
  publish (target: Target, message: OutboundMessage): number {
    return this.adapter.publish(target, message)
  }

  /** How many sessions a target reaches on every instance (the adapter's reach). */
  clusterCount (target: Target): Promise<number> {
    return this.adapter.count(target)
  }

  /** A request to a session of this instance; one elsewhere fails at once. */
  requestSession (sessionId: string, event: string, args: unknown[]): Promise<unknown> {
    const s = this.sessions.get(sessionId)
    if (s === undefined) return Promise.reject(new FST_WEBCHANNEL_SESSION_NOT_LOCAL(sessionId))
    return this.router.request(s, null, event, args)
  }

  // ---- LocalSessions: what the adapter reaches on this instance ----------

  deliver (target: Target, message: OutboundMessage): number {
    let n = 0
    switch (target.kind) {
      case 'session': {
        const s = this.sessions.get(target.id)
        return s !== undefined && s.send(message) ? 1 : 0
      }
      case 'channel': {
        const subs = this.channels.subscribers(target.name)
        if (subs === undefined) return 0
        const except = target.except
        for (const s of subs) if ((except === undefined || !except.has(s.id)) && s.send(message)) n++
        return n
      }
      case 'all': {
        const except = target.except
        for (const s of this.sessions.values()) if ((except === undefined || !except.has(s.id)) && s.send(message)) n++
        return n
      }
    }
  }

  count (target: Target): number {
    switch (target.kind) {
      case 'session': return this.sessions.has(target.id) ? 1 : 0
      case 'channel': return countExcept(this.channels.subscribers(target.name), target.except)
      case 'all': return countExcept(this.sessions.values(), target.except)
    }
  }

  /** The adapter's report: logged here, then handed to the app's `onAdapterEvent`. */
  adapterEvent (event: AdapterEvent): void {
    if (event.type === 'down') this.log.warn({ error: event.error }, 'webchannel: adapter disconnected; cross-instance messages are buffered, local delivery goes on')
    else if (event.type === 'up') this.log.info({ flushed: event.flushed }, 'webchannel: adapter connected')
    else if (event.type === 'drop') this.log.warn({ reason: event.reason, count: event.count, total: event.total }, 'webchannel: adapter dropped cross-instance messages')
    else this.log.warn({ error: event.error }, 'webchannel: adapter command failed')
    const hook = this.options.onAdapterEvent
    if (hook === null) return
    try {
      hook(event)
    } catch (err) {
      this.log.error({ err }, 'webchannel: onAdapterEvent threw')
    }
  }

  /** `ok` while the adapter is connected (always, in memory); `degraded` while it buffers or cannot reach its bus. */
  health (): { status: 'ok' | 'degraded', adapter: AdapterHealth } {
    const adapter = this.adapter.health?.() ?? { connected: true, buffered: 0, bufferedBytes: 0, dropped: 0, droppedBy: {} }
    return { status: adapter.connected ? 'ok' : 'degraded', adapter }
  }

  // ---- shutdown -------------------------------------------------------

  /**
   * Refuse new sessions and requests, give running handlers a bounded time to
   * answer, end every session with the configured close code, and wait
   * (bounded) for the transports to confirm.
   */
  async close (): Promise<void> {
    if (this.closing) return
    this.closing = true
    this.router.closing = true
    this.expiry.stop()
    const limit = this.options.shutdownTimeout
    if (this.router.running.size > 0) {
      await withTimeout(Promise.allSettled([...this.router.running]), limit)
    }
    for (const step of this.closeSteps) {
      // Bounded: a step may wait on the network (back channels flushing their close).
      await withTimeout(Promise.resolve().then(step).catch((err: unknown) => {
        this.log.error({ err }, 'webchannel: shutdown step failed')
      }), limit)
    }
    const gone = new Promise<void>(resolve => {
      this.drained = resolve
      if (this.sessions.size === 0) resolve()
    })
    for (const s of [...this.sessions.values()]) s.transport.close(this.options.closeCode, this.options.closeReason, 'shutdown')
    await withTimeout(gone, limit)
    // Whatever did not confirm in time is cut.
    for (const s of [...this.sessions.values()]) {
      s.transport.abort?.('shutdown')
      s.ended('shutdown', this.options.closeCode, 'shutdown timeout')
    }
    await this.adapter.close()
  }
}

function countExcept (sessions: Iterable<Session> | undefined, except: ReadonlySet<string> | undefined): number {
  if (sessions === undefined) return 0
  let n = 0
  for (const s of sessions) if (except === undefined || !except.has(s.id)) n++
  return n
}

function withTimeout (p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>(resolve => {
    const t = setTimeout(resolve, ms)
    p.then(() => { clearTimeout(t); resolve() }, () => { clearTimeout(t); resolve() })
  })
}
