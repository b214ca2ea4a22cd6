import type { Inbound, WireErrorBody } from '../codecs/envelope.js'
import { encodeReject, encodeResolve, parseEnvelope } from '../codecs/envelope.js'
import { FST_WEBCHANNEL_DUPLICATE_HANDLER, FST_WEBCHANNEL_RESERVED_EVENT, WireError, WireErrorCode } from '../errors.js'
import type { Session, SessionHandler } from '../session/session.js'
import { OutboundMessage } from '../transports/transport.js'
import { isChannelName, type Channels } from './channels.js'
import { EventContext } from './context.js'
import { PatternTable } from './pattern-table.js'
import { compileSchema, type CompiledSchema, type EventSchema } from './schema.js'
import { SessionEvents } from './session-events.js'

/** A server-side handler: the context first, then the event's arguments. */
export type ServerHandler = (ctx: EventContext, ...args: any[]) => unknown

interface Registered {
  fn: ServerHandler
  once: boolean
  schema: CompiledSchema
  /** The schema as declared, for documents such as AsyncAPI. */
  declared: EventSchema | undefined
}

/** A registered handler as documents describe it. */
export interface HandlerDescription {
  /** null: the main channel; else a channel name or pattern. */
  channel: string | null
  event: string
  schema: EventSchema | undefined
}

/** Names never dispatched from the wire on the main channel (ws-wrapper's reserved events). */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set(['open', 'connect', 'message', 'error', 'close', 'disconnect'])

export interface RouterOptions {
  handlerTimeout: number
  maxInflightRequests: number
  /** Default timeout of server→client requests (ms, 0: none). */
  requestTimeout: number
}

const MAIN = '\u0000main'

/**
 * The event layer: server-wide handlers, each session's own handlers and
 * requests to its client, and the dispatch of one inbound envelope.
 * Priority (ws-wrapper-server's): the session's once, the session's on,
 * the server's once, the server's on — one handler runs. `subscribe` and
 * `unsubscribe` on the main channel are answered from the channel registry.
 */
export class Router {
  private readonly tables = new PatternTable<Map<string, Registered>>()
  private readonly options: RouterOptions
  private readonly channels: Channels
  private readonly perSession = new WeakMap<Session, SessionEvents>()
  /** Handler promises still running (for a bounded wait at shutdown). */
  readonly running = new Set<Promise<unknown>>()
  /** Set at shutdown: new requests are refused with SHUTTING_DOWN. */
  closing = false
  /** Told how long each handler took (ms) and whether it succeeded; set when metrics are on. */
  timing: ((event: string, ms: number, ok: boolean) => void) | null = null

  constructor (options: RouterOptions, channels: Channels) {
    this.options = options
    this.channels = channels
  }

  // ---- a session's own event state ---------------------------------------

  private eventsOf (session: Session): SessionEvents {
    let e = this.perSession.get(session)
    if (e === undefined) {
      e = new SessionEvents()
      this.perSession.set(session, e)
    }
    return e
  }

  handle (session: Session, channel: string | null, event: string, fn: SessionHandler, once: boolean): void {
    if (!session.closed) this.eventsOf(session).add(channel, event, fn, once)
  }

  unhandle (session: Session, channel: string | null, event: string): void {
    this.perSession.get(session)?.remove(channel, event)
  }

  request (session: Session, channel: string | null, event: string, args: unknown[], timeout = this.options.requestTimeout): Promise<unknown> {
    return this.eventsOf(session).request(session, channel, event, args, timeout)
  }

  /** A message over the session's rate: a request gets WEBCHANNEL_RATE_LIMITED, anything else is dropped. */
  refuseOverLimit (session: Session, text: string): void {
    const inbound = parseEnvelope(text)
    if (inbound.kind === 'request') this.sendReject(session, inbound.id, { message: 'Too many messages', code: WireErrorCode.RATE_LIMITED })
    else session.log.debug('webchannel: message over the rate limit dropped')
  }

  /** The session ended: its requests to the client fail, its handlers go. */
  ended (session: Session): void {
    const e = this.perSession.get(session)
    if (e === undefined) return
    e.end(session.id)
    this.perSession.delete(session)
  }

  add (channel: string | null, event: string, schema: EventSchema | undefined, fn: ServerHandler, once: boolean): void {
    if (typeof event !== 'string' || event === '') throw new FST_WEBCHANNEL_RESERVED_EVENT(String(event))
    if (channel === null && (RESERVED_EVENTS.has(event) || event === 'subscribe' || event === 'unsubscribe')) {
      throw new FST_WEBCHANNEL_RESERVED_EVENT(event)
    }
    const key = channel ?? MAIN
    let table = this.tables.getSource(key)
    if (table === undefined) {
      table = new Map()
      this.tables.set(key, table)
    }
    if (table.has(event)) throw new FST_WEBCHANNEL_DUPLICATE_HANDLER(event, channel ?? '')
    table.set(event, { fn, once, schema: compileSchema(event, schema), declared: schema })
  }

  /** Every server-wide handler with its declared schema. */
  describe (): HandlerDescription[] {
    const out: HandlerDescription[] = []
    for (const [key, table] of this.tables.entries()) {
      for (const [event, r] of table) out.push({ channel: key === MAIN ? null : key, event, schema: r.declared })
    }
    return out
  }

  remove (channel: string | null, event: string): boolean {
    return this.tables.getSource(channel ?? MAIN)?.delete(event) ?? false
  }

  private lookup (channel: string | null, event: string): Registered | undefined {
    const table = channel === null ? this.tables.getSource(MAIN) : this.tables.match(channel)
    const r = table?.get(event)
    if (r !== undefined && r.once) table!.delete(event)
    return r
  }

  /**
   * Route one envelope. undefined: accepted synchronously (refusals answered
   * on the wire count as accepted); otherwise a promise that resolves once an
   * async event handler has finished, so later messages keep their order.
   */
  dispatch (session: Session, inbound: Inbound): Promise<void> | undefined {
    switch (inbound.kind) {
      case 'bad-request':
        session.log.debug({ event: inbound.name }, 'webchannel: request id is not a positive safe integer')
        return undefined
      case 'resolve':
        this.perSession.get(session)?.resolve(inbound.id, inbound.data)
        return undefined
      case 'reject':
        this.perSession.get(session)?.reject(inbound.id, inbound.error)
        return undefined
      case 'ignored':
        return undefined
    }
    return this.route(session, inbound)
  }

  /** An event or a request: checks in order, then one handler runs. */
  private route (session: Session, inbound: Extract<Inbound, { kind: 'event' | 'request' }>): Promise<void> | undefined {
    const { channel, name, args } = inbound
    const id = inbound.kind === 'request' ? inbound.id : null
    if (id !== null && this.closing) return this.refuse(session, id, WireErrorCode.SHUTTING_DOWN, 'Server is shutting down')

    if (channel === null) {
      if (name === 'subscribe' || name === 'unsubscribe') return this.builtin(session, name, args, id)
      if (RESERVED_EVENTS.has(name)) return this.refuse(session, id, WireErrorCode.NO_HANDLER, `No handler for "${name}"`)
    } else if (this.channels.isDeclared(channel) && !session.channels.has(channel)) {
      // Declared channels are for subscribers only.
      return this.refuse(session, id, WireErrorCode.FORBIDDEN, 'Forbidden')
    }

    const mine = this.perSession.get(session)
    if (id !== null && mine !== undefined) {
      // The same id while the first is running: the client would get two answers to one request.
      if (mine.isRunning(id)) return this.refuse(session, id, WireErrorCode.BAD_REQUEST, 'Request id already in flight')
      if (mine.inflight >= this.options.maxInflightRequests) {
        return this.refuse(session, id, WireErrorCode.TOO_MANY_REQUESTS, 'Too many requests in flight')
      }
    }

    const own = mine?.take(channel, name)
    const registered = own === undefined ? this.lookup(channel, name) : undefined
    if (own === undefined && registered === undefined) {
      if (id === null) session.log.debug({ channel, event: name }, 'webchannel: no handler for event')
      return this.refuse(session, id, WireErrorCode.NO_HANDLER, `No handler for "${name}"`)
    }
    return this.run(session, inbound, own ?? registered!.fn, registered?.schema)
  }

  /** Validate, call the handler, and answer (now or when its promise settles). */
  private run (session: Session, inbound: Extract<Inbound, { kind: 'event' | 'request' }>, fn: ServerHandler, schema: CompiledSchema | undefined): Promise<void> | undefined {
    const { channel, name, args } = inbound
    const id = inbound.kind === 'request' ? inbound.id : null
    if (schema?.checkArgs != null) {
      const failure = schema.checkArgs(args)
      if (failure !== null) {
        session.log.debug({ channel, event: name, path: failure.path }, 'webchannel: invalid payload')
        return this.refuse(session, id, WireErrorCode.VALIDATION, `Invalid payload at ${failure.path}: ${failure.message}`, { path: failure.path })
      }
    }

    const ctx = new EventContext(session, channel, name, id, schema?.timeout ?? this.options.handlerTimeout)
    const timing = this.timing
    const started = timing === null ? 0 : performance.now()
    let result: unknown
    try {
      result = fn(ctx, ...args)
    } catch (err) {
      timing?.(name, performance.now() - started, false)
      return this.failed(session, ctx, err)
    }
    if (!isPromiseLike(result)) {
      timing?.(name, performance.now() - started, true)
      ctx.finish()
      if (id !== null) this.respond(session, ctx, schema, result)
      return undefined
    }
    const p = Promise.resolve(result)
    if (timing !== null) p.then(() => timing(name, performance.now() - started, true), () => timing(name, performance.now() - started, false))
    return this.await(session, ctx, schema, p)
  }

  private await (session: Session, ctx: EventContext, schema: CompiledSchema | undefined, p: Promise<unknown>): Promise<void> | undefined {
    const id = ctx.requestId
    if (id !== null) this.eventsOf(session).start(id)
    let timer: NodeJS.Timeout | null = null
    let timedOut = false
    const timeout = ctx.timeout
    const raced = timeout > 0
      ? new Promise<unknown>((resolve, reject) => {
        timer = setTimeout(() => {
          timedOut = true
          ctx.finish(new WireError(WireErrorCode.TIMEOUT, 'Handler timed out'))
          reject(new WireError(WireErrorCode.TIMEOUT, 'Handler timed out'))
        }, timeout)
        p.then(resolve, reject)
      })
      : p
    const done = raced.then(
      (value) => {
        if (timer !== null) clearTimeout(timer)
        ctx.finish()
        if (id !== null) this.respond(session, ctx, schema, value)
      },
      (err) => {
        if (timer !== null) clearTimeout(timer)
        if (!timedOut) ctx.finish()
        return this.failed(session, ctx, err)
      }
    ).finally(() => {
      if (id !== null) this.perSession.get(session)?.finish(id)
      this.running.delete(done)
    })
    this.running.add(done)
    // A request is accepted once its handler started (its answer travels as a response);
    // a plain event is accepted when its handler finished without throwing.
    return id !== null ? undefined : done
  }

  private respond (session: Session, ctx: EventContext, schema: CompiledSchema | undefined, value: unknown): void {
    if (schema?.checkResponse != null) {
      const failure = schema.checkResponse(value)
      if (failure !== null) {
        session.log.error({ channel: ctx.channel, event: ctx.event, path: failure.path, reason: failure.message }, 'webchannel: handler response fails its schema')
        this.sendReject(session, ctx.requestId!, { message: 'Internal error', code: WireErrorCode.HANDLER_ERROR })
        return
      }
    }
    session.send(new OutboundMessage(encodeResolve(ctx.requestId!, value)))
  }

  /**
   * A thrown handler: requests get a generic error (a WireError keeps its
   * code); events are logged. Either way the message counts as accepted, on
   * every transport: it reached the app, and sending it again would run the
   * handler again.
   */
  private failed (session: Session, ctx: EventContext, err: unknown): Promise<void> {
    if (err instanceof WireError) {
      if (err.code !== WireErrorCode.TIMEOUT) session.log.debug({ event: ctx.event, code: err.code }, 'webchannel: handler refused')
      else session.log.warn({ channel: ctx.channel, event: ctx.event }, 'webchannel: handler timed out')
    } else {
      session.log.error({ err, channel: ctx.channel, event: ctx.event }, 'webchannel: handler failed')
    }
    if (ctx.requestId === null) return Promise.resolve()
    const body: WireErrorBody = err instanceof WireError
      ? { message: err.message, code: err.code, ...err.details }
      : { message: 'Internal error', code: WireErrorCode.HANDLER_ERROR }
    this.sendReject(session, ctx.requestId, body)
    return Promise.resolve()
  }

  private refuse (session: Session, id: number | null, code: string, message: string, extra?: Record<string, unknown>): undefined {
    if (id !== null) this.sendReject(session, id, { message, code, ...extra })
    return undefined
  }

  private sendReject (session: Session, id: number, body: WireErrorBody): void {
    session.send(new OutboundMessage(encodeReject(id, body)))
  }

  private async builtin (session: Session, name: 'subscribe' | 'unsubscribe', args: unknown[], id: number | null): Promise<void> {
    const channel = args[0]
    if (name === 'unsubscribe') {
      if (typeof channel === 'string') this.channels.leave(session, channel)
    } else if (!(await this.subscribe(session, channel))) {
      // One answer for undeclared, refused and malformed: never say why.
      if (id !== null) this.sendReject(session, id, { message: 'Forbidden', code: WireErrorCode.FORBIDDEN })
      return
    }
    if (id !== null) session.send(new OutboundMessage(encodeResolve(id, true)))
  }

  private async subscribe (session: Session, name: unknown): Promise<boolean> {
    if (!isChannelName(name)) return false
    if (session.channels.has(name)) return true
    if (!(await this.channels.authorize(session, name))) return false
    this.channels.join(session, name)
    return true
  }
}

function isPromiseLike (v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function'
}
