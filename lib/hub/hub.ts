import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { encodeEvent, type Inbound } from '../codecs/envelope.js'
import { WireError, WireErrorCode } from '../errors.js'
import { Router, type BuiltinHandlers } from '../events/router.js'
import type { ResolvedOptions } from '../options.js'
import type { RawMessage } from '../session/inbox.js'
import { newSessionId } from '../session/session-id.js'
import { Session, type SessionOwner } from '../session/session.js'
import { OutboundMessage, type EndReason, type Transport } from '../transports/transport.js'
import { MemoryAdapter, type Adapter, type Target } from './adapter.js'
import { Channels, MAX_CHANNEL_NAME } from './channels.js'

export interface Refusal { statusCode: number, code: string, message: string }

export interface OpenInit {
  transport: Transport
  request: FastifyRequest
  subprotocol: string | null
}

export type RawHandler = (session: Session, message: RawMessage) => void

/**
 * The hub: every live session on this instance, the channel memberships,
 * the event router, and the publish path (through the adapter) for emits to
 * a channel, a session, or everyone. Transport routes call `admit` and `open`;
 * sessions call back into `dispatch`, `raw` and `ended`.
 */
export class Hub implements SessionOwner, BuiltinHandlers {
  readonly options: ResolvedOptions
  readonly router: Router
  readonly channels = new Channels()
  readonly sessions = new Map<string, Session>()
  private readonly perPrincipal = new Map<string, number>()
  private readonly ready = new WeakMap<Session, Promise<void>>()
  private readonly closeSteps: Array<() => Promise<void> | void> = []
  private readonly log: FastifyBaseLogger
  private adapter: Adapter = new MemoryAdapter()
  private rawHandler: RawHandler | null = null
  private drained: (() => void) | null = null
  closing = false

  constructor (options: ResolvedOptions, log: FastifyBaseLogger) {
    this.options = options
    this.log = log
    this.router = new Router(options, this)
    this.adapter.init((t, m) => this.deliver(t, m))
  }

  async setAdapter (adapter: Adapter): Promise<void> {
    await this.adapter.close()
    this.adapter = adapter
    await adapter.init((t, m) => this.deliver(t, m))
  }

  // ---- admission and session lifecycle --------------------------------

  /** Session caps, checked before a transport is set up. null: admitted. */
  admit (request: FastifyRequest): Refusal | null {
    if (this.closing) return { statusCode: 503, code: 'FST_WEBCHANNEL_SHUTTING_DOWN', message: 'Server is shutting down' }
    if (this.sessions.size >= this.options.maxSessions) {
      return { statusCode: 503, code: 'FST_WEBCHANNEL_TOO_MANY_SESSIONS', message: 'Too many sessions' }
    }
    const key = principalKey(this.options.principal(request))
    if (key !== null && (this.perPrincipal.get(key) ?? 0) >= this.options.maxSessionsPerPrincipal) {
      return { statusCode: 429, code: 'FST_WEBCHANNEL_TOO_MANY_SESSIONS', message: 'Too many sessions for this principal' }
    }
    return null
  }

  /** Register a session for a transport that is ready to carry it, and run onConnection. */
  open (init: OpenInit): Session {
    const principal = this.options.principal(init.request)
    const session = new Session({
      id: newSessionId(),
      transport: init.transport,
      request: init.request,
      principal,
      subprotocol: init.subprotocol,
      owner: this,
      events: this.options.events,
      inboxLimit: this.options.inboxLimit,
      requestTimeout: this.options.requestTimeout,
    })
    this.sessions.set(session.id, session)
    const key = principalKey(principal)
    if (key !== null) this.perPrincipal.set(key, (this.perPrincipal.get(key) ?? 0) + 1)
    const onConnection = this.options.onConnection
    if (onConnection !== null) {
      try {
        const r = onConnection(session)
        if (r !== undefined && typeof (r as Promise<void>).then === 'function') {
          const p = Promise.resolve(r).catch((err) => {
            init.request.log.error({ err, session: session.id }, 'webchannel: onConnection failed')
            session.close(1011, 'Internal error')
          }).finally(() => this.ready.delete(session))
          this.ready.set(session, p)
        }
      } catch (err) {
        init.request.log.error({ err, session: session.id }, 'webchannel: onConnection failed')
        queueMicrotask(() => session.close(1011, 'Internal error'))
      }
    }
    return session
  }

  get (id: string): Session | undefined {
    return this.sessions.get(id)
  }

  /** Whether this request comes from the principal that opened the session. */
  samePrincipal (session: Session, request: FastifyRequest): boolean {
    return this.options.samePrincipal(session.principal, this.options.principal(request))
  }

  /** A shutdown step run by close() before sessions are closed (e.g. end back channels). */
  onClose (fn: () => Promise<void> | void): void {
    this.closeSteps.push(fn)
  }

  onRaw (fn: RawHandler): void {
    this.rawHandler = fn
  }

  // ---- SessionOwner ---------------------------------------------------

  dispatch (session: Session, inbound: Inbound): Promise<void> | undefined {
    const ready = this.ready.get(session)
    if (ready !== undefined) return ready.then(() => this.router.dispatch(session, inbound))
    return this.router.dispatch(session, inbound)
  }

  raw (session: Session, message: RawMessage): void {
    session.pushRaw(message)
    if (this.rawHandler !== null) {
      try {
        this.rawHandler(session, message)
      } catch (err) {
        session.log.error({ err, session: session.id }, 'webchannel: raw message handler threw')
      }
    }
  }

  ended (session: Session, reason: EndReason, code: number, detail: string): void {
    this.channels.leaveAll(session)
    this.sessions.delete(session.id)
    const key = principalKey(session.principal)
    if (key !== null) {
      const n = (this.perPrincipal.get(key) ?? 1) - 1
      if (n <= 0) this.perPrincipal.delete(key)
      else this.perPrincipal.set(key, n)
    }
    session.log.debug({ session: session.id, transport: session.kind, reason, code }, 'webchannel: session ended')
    const hook = this.options.onSessionEnd
    if (hook !== null) {
      try {
        hook(session, reason, code, detail)
      } catch (err) {
        session.log.error({ err, session: session.id }, 'webchannel: onSessionEnd threw')
      }
    }
    if (this.drained !== null && this.sessions.size === 0) this.drained()
  }

  // ---- BuiltinHandlers: subscribe / unsubscribe ------------------------

  async subscribe (session: Session, name: unknown): Promise<void> {
    // One answer for undeclared, refused and malformed: never say why.
    if (typeof name !== 'string' || name === '' || name.length > MAX_CHANNEL_NAME) throw forbidden()
    if (session.channels.has(name)) return
    if (!(await this.channels.authorize(session, name))) throw forbidden()
    this.channels.join(session, name)
  }

  unsubscribe (session: Session, name: unknown): void {
    if (typeof name === 'string') this.channels.leave(session, name)
  }

  mayUse (session: Session, channel: string): boolean {
    return !this.channels.isDeclared(channel) || session.channels.has(channel)
  }

  // ---- publishing -----------------------------------------------------

  /** Emit to every subscriber of a channel (every transport, every instance). */
  emit (channel: string, event: string, ...args: unknown[]): number {
    return this.adapter.publish({ kind: 'channel', name: channel }, new OutboundMessage(encodeEvent(channel, event, args)))
  }

  /** Emit on the main channel of one session, wherever it lives. */
  emitTo (sessionId: string, event: string, ...args: unknown[]): number {
    return this.adapter.publish({ kind: 'session', id: sessionId }, new OutboundMessage(encodeEvent(null, event, args)))
  }

  /** Emit on the main channel of every session. */
  broadcast (event: string, ...args: unknown[]): number {
    return this.adapter.publish({ kind: 'all' }, new OutboundMessage(encodeEvent(null, event, args)))
  }

  /** Send a request to one local session and await its answer. */
  request (sessionId: string, event: string, ...args: unknown[]): Promise<unknown> {
    const s = this.sessions.get(sessionId)
    if (s === undefined) return Promise.reject(new WireError('WEBCHANNEL_UNKNOWN_SESSION', 'Unknown session'))
    return s.requestOn(null, event, args)
  }

  /** Hand one prepared message to this instance's sessions. Returns the delivery count. */
  deliver (target: Target, message: OutboundMessage): number {
    switch (target.kind) {
      case 'channel': {
        const subs = this.channels.subscribers(target.name)
        if (subs === undefined) return 0
        let n = 0
        for (const s of subs) if (s.send(message)) n++
        return n
      }
      case 'session': {
        const s = this.sessions.get(target.id)
        return s !== undefined && s.send(message) ? 1 : 0
      }
      case 'all': {
        let n = 0
        for (const s of this.sessions.values()) if (s.send(message)) n++
        return n
      }
    }
  }

  // ---- shutdown -------------------------------------------------------

  /**
   * Refuse new sessions, give running handlers a bounded time to answer, end
   * every session with the configured close code, and wait (bounded) for the
   * transports to confirm.
   */
  async close (): Promise<void> {
    if (this.closing) return
    this.closing = true
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

function forbidden (): WireError {
  return new WireError(WireErrorCode.FORBIDDEN, 'Forbidden')
}

function principalKey (p: unknown): string | null {
  if (p === null || p === undefined) return null
  if (typeof p === 'string' || typeof p === 'number') return String(p)
  if (typeof p === 'object' && 'id' in p && (typeof p.id === 'string' || typeof p.id === 'number')) return 'id:' + String(p.id)
  try {
    return JSON.stringify(p)
  } catch {
    return null
  }
}

function withTimeout (p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>(resolve => {
    const t = setTimeout(resolve, ms)
    p.then(() => { clearTimeout(t); resolve() }, () => { clearTimeout(t); resolve() })
  })
}
