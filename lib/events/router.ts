import type { Inbound, WireErrorBody } from '../codecs/envelope.js'
import { encodeReject, encodeResolve } from '../codecs/envelope.js'
import { FST_WEBCHANNEL_DUPLICATE_HANDLER, FST_WEBCHANNEL_RESERVED_EVENT, WireError, WireErrorCode } from '../errors.js'
import { PatternTable } from './pattern-table.js'
import type { Session } from '../session/session.js'
import { OutboundMessage } from '../transports/transport.js'
import { EventContext } from './context.js'
import { compileSchema, type CompiledSchema, type EventSchema } from './schema.js'

/** A server-side handler: the context first, then the event's arguments. */
export type ServerHandler = (ctx: EventContext, ...args: any[]) => unknown

interface Registered {
  fn: ServerHandler
  once: boolean
  schema: CompiledSchema
}

/** Names never dispatched from the wire on the main channel (ws-wrapper's reserved events). */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set(['open', 'connect', 'message', 'error', 'close', 'disconnect'])

/** Main-channel requests the hub answers itself. */
export interface BuiltinHandlers {
  subscribe (session: Session, name: unknown): Promise<void>
  unsubscribe (session: Session, name: unknown): void
  /** Whether a session may use this channel (declared channels need a subscription). */
  mayUse (session: Session, channel: string): boolean
}

export interface RouterOptions {
  handlerTimeout: number
  maxInflightRequests: number
}

const MAIN = '\u0000main'

/**
 * Server-wide event handlers and the dispatch of one inbound envelope.
 * Priority (ws-wrapper-server's): the session's once, the session's on,
 * the server's once, the server's on — one handler runs.
 */
export class Router {
  private readonly tables = new PatternTable<Map<string, Registered>>()
  private readonly options: RouterOptions
  private readonly builtins: BuiltinHandlers
  /** Handler promises still running (for a bounded wait at shutdown). */
  readonly running = new Set<Promise<unknown>>()

  constructor (options: RouterOptions, builtins: BuiltinHandlers) {
    this.options = options
    this.builtins = builtins
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
    table.set(event, { fn, once, schema: compileSchema(event, schema) })
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
   * on the wire count as accepted); otherwise a promise that resolves when the
   * app accepted it and rejects when an event handler failed.
   */
  dispatch (session: Session, inbound: Inbound): Promise<void> | undefined {
    if (inbound.kind === 'bad-request') {
      session.log.debug({ session: session.id, event: inbound.name }, 'webchannel: request id is not a positive safe integer')
      return undefined
    }
    if (inbound.kind !== 'event' && inbound.kind !== 'request') return undefined
    const { channel, name, args } = inbound
    const id = inbound.kind === 'request' ? inbound.id : null

    if (channel === null) {
      if (name === 'subscribe' || name === 'unsubscribe') return this.builtin(session, name, args, id)
      if (RESERVED_EVENTS.has(name)) return this.refuse(session, id, WireErrorCode.NO_HANDLER, `No handler for "${name}"`)
    } else if (!this.builtins.mayUse(session, channel)) {
      return this.refuse(session, id, WireErrorCode.FORBIDDEN, 'Forbidden')
    }

    const own = session.takeHandler(channel, name)
    const registered = own === undefined ? this.lookup(channel, name) : undefined
    if (own === undefined && registered === undefined) {
      if (id === null) session.log.debug({ session: session.id, channel, event: name }, 'webchannel: no handler for event')
      return this.refuse(session, id, WireErrorCode.NO_HANDLER, `No handler for "${name}"`)
    }

    if (id !== null && session.inflight >= this.options.maxInflightRequests) {
      return this.refuse(session, id, WireErrorCode.TOO_MANY_REQUESTS, 'Too many requests in flight')
    }

    const schema = registered?.schema
    if (schema?.checkArgs != null) {
      const failure = schema.checkArgs(args)
      if (failure !== null) {
        session.log.debug({ session: session.id, channel, event: name, path: failure.path }, 'webchannel: invalid payload')
        return this.refuse(session, id, WireErrorCode.VALIDATION, `Invalid payload at ${failure.path}: ${failure.message}`, { path: failure.path })
      }
    }

    const ctx = new EventContext(session, channel, name, id, schema?.timeout ?? this.options.handlerTimeout)
    let result: unknown
    try {
      result = own !== undefined ? own(ctx, ...args) : registered!.fn(ctx, ...args)
    } catch (err) {
      return this.failed(session, ctx, err)
    }
    if (!isPromiseLike(result)) {
      ctx.finish()
      if (id !== null) this.respond(session, ctx, schema, result)
      return undefined
    }
    return this.await(session, ctx, schema, Promise.resolve(result))
  }

  private await (session: Session, ctx: EventContext, schema: CompiledSchema | undefined, p: Promise<unknown>): Promise<void> | undefined {
    const id = ctx.requestId
    if (id !== null) session.inflight++
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
      if (id !== null) session.inflight--
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
        session.log.error({ session: session.id, channel: ctx.channel, event: ctx.event, path: failure.path, reason: failure.message }, 'webchannel: handler response fails its schema')
        this.sendReject(session, ctx.requestId!, { message: 'Internal error', code: WireErrorCode.HANDLER_ERROR })
        return
      }
    }
    session.send(new OutboundMessage(encodeResolve(ctx.requestId!, value)))
  }

  /** A thrown handler: requests get a generic error (a WireError keeps its code); events reject. */
  private failed (session: Session, ctx: EventContext, err: unknown): Promise<void> {
    if (err instanceof WireError) {
      if (err.code !== WireErrorCode.TIMEOUT) session.log.debug({ session: session.id, event: ctx.event, code: err.code }, 'webchannel: handler refused')
      else session.log.warn({ session: session.id, channel: ctx.channel, event: ctx.event }, 'webchannel: handler timed out')
    } else {
      session.log.error({ err, session: session.id, channel: ctx.channel, event: ctx.event }, 'webchannel: handler failed')
    }
    if (ctx.requestId === null) return Promise.reject(err)
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
    try {
      if (name === 'subscribe') await this.builtins.subscribe(session, args[0])
      else this.builtins.unsubscribe(session, args[0])
    } catch (err) {
      if (id !== null) {
        const code = err instanceof WireError ? err.code : WireErrorCode.FORBIDDEN
        this.sendReject(session, id, { message: err instanceof WireError ? err.message : 'Forbidden', code })
      }
      return
    }
    if (id !== null) session.send(new OutboundMessage(encodeResolve(id, true)))
  }
}

function isPromiseLike (v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof (v as { then?: unknown }).then === 'function'
}
