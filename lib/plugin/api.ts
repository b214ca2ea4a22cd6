import type { Adapter } from '../hub/adapter.js'
import type { Authorize } from '../hub/channels.js'
import type { Hub, RawHandler } from '../hub/hub.js'
import type { EventContext } from '../events/context.js'
import type { ArgsOf, EventSchema, ResultOf } from '../events/schema.js'
import type { ServerHandler } from '../events/router.js'
import type { Session } from '../session/session.js'

type MaybePromise<T> = T | Promise<T>

/** A handler typed from its event's schema: `(ctx, ...args) => response`. */
export type TypedHandler<S> = (ctx: EventContext, ...args: ArgsOf<S>) => MaybePromise<ResultOf<S>>
export type UntypedHandler = (ctx: EventContext, ...args: any[]) => unknown

/** Declare events once (e.g. in a module shared with the client); the value is the schema map itself. */
export function defineEvents<const T extends Record<string, EventSchema>> (events: T): T {
  return events
}

/** Handlers and emits for one named channel (or a `*` pattern, for handlers). */
export class ChannelApi {
  private readonly hub: Hub
  readonly name: string
  constructor (hub: Hub, name: string) {
    this.hub = hub
    this.name = name
  }

  on<const S extends EventSchema> (event: string, schema: S, handler: TypedHandler<S>): this
  on (event: string, handler: UntypedHandler): this
  on (event: string, a: EventSchema | UntypedHandler, b?: UntypedHandler): this {
    addHandler(this.hub, this.name, event, a, b, false)
    return this
  }

  once<const S extends EventSchema> (event: string, schema: S, handler: TypedHandler<S>): this
  once (event: string, handler: UntypedHandler): this
  once (event: string, a: EventSchema | UntypedHandler, b?: UntypedHandler): this {
    addHandler(this.hub, this.name, event, a, b, true)
    return this
  }

  off (event: string): this {
    this.hub.router.remove(this.name, event)
    return this
  }

  /** Emit to every subscriber of this channel. Returns local deliveries. */
  emit (event: string, ...args: unknown[]): number {
    return this.hub.emit(this.name, event, ...args)
  }
}

/** What `app.webchannel.to(id)` returns. */
export interface SessionTarget {
  emit (event: string, ...args: unknown[]): number
  request (event: string, ...args: unknown[]): Promise<unknown>
  join (channel: string): boolean
  leave (channel: string): boolean
  close (code?: number, reason?: string): boolean
}

/** The `app.webchannel` decorator. */
export class WebChannelApi {
  /** @internal */
  readonly hub: Hub
  constructor (hub: Hub) {
    this.hub = hub
  }

  /** Handle an event (or request) on the main channel. With a schema, arguments are validated and typed. */
  on<const S extends EventSchema> (event: string, schema: S, handler: TypedHandler<S>): this
  on (event: string, handler: UntypedHandler): this
  on (event: string, a: EventSchema | UntypedHandler, b?: UntypedHandler): this {
    addHandler(this.hub, null, event, a, b, false)
    return this
  }

  once<const S extends EventSchema> (event: string, schema: S, handler: TypedHandler<S>): this
  once (event: string, handler: UntypedHandler): this
  once (event: string, a: EventSchema | UntypedHandler, b?: UntypedHandler): this {
    addHandler(this.hub, null, event, a, b, true)
    return this
  }

  off (event: string): this {
    this.hub.router.remove(null, event)
    return this
  }

  /** Handlers and emits scoped to a named channel; a `*` pattern matches many for handlers. */
  of (channel: string): ChannelApi {
    return new ChannelApi(this.hub, channel)
  }

  /** Declare a pub/sub channel (name or `*` pattern) clients may subscribe to. */
  channel (pattern: string, options: { authorize?: Authorize } = {}): this {
    this.hub.channels.declare(pattern, options)
    return this
  }

  /** Emit to every subscriber of a channel, on every transport. Returns local deliveries. */
  emit (channel: string, event: string, ...args: unknown[]): number {
    return this.hub.emit(channel, event, ...args)
  }

  /** Emit on the main channel of every session. */
  broadcast (event: string, ...args: unknown[]): number {
    return this.hub.broadcast(event, ...args)
  }

  /** Address one session by id. */
  to (sessionId: string): SessionTarget {
    const hub = this.hub
    return {
      emit: (event, ...args) => hub.emitTo(sessionId, event, ...args),
      request: (event, ...args) => hub.request(sessionId, event, ...args),
      join: (channel) => {
        const s = hub.get(sessionId)
        if (s === undefined || s.closed) return false
        hub.channels.join(s, channel)
        return true
      },
      leave: (channel) => {
        const s = hub.get(sessionId)
        return s !== undefined && hub.channels.leave(s, channel)
      },
      close: (code = 1000, reason = '') => {
        const s = hub.get(sessionId)
        if (s === undefined) return false
        s.close(code, reason)
        return true
      },
    }
  }

  /** A live session of this instance. */
  session (id: string): Session | undefined {
    return this.hub.get(id)
  }

  /** Live sessions of this instance, by id. */
  get sessions (): ReadonlyMap<string, Session> {
    return this.hub.sessions
  }

  /** Subscriber count of a channel on this instance. */
  subscribers (channel: string): number {
    return this.hub.channels.subscribers(channel)?.size ?? 0
  }

  /** Messages the event layer does not claim (non-envelope text, binary frames, plain WebChannel maps). */
  onRaw (fn: RawHandler): this {
    this.hub.onRaw(fn)
    return this
  }

  /** Replace the in-memory adapter (cross-instance fan-out). */
  setAdapter (adapter: Adapter): Promise<void> {
    return this.hub.setAdapter(adapter)
  }
}

function addHandler (hub: Hub, channel: string | null, event: string, a: EventSchema | UntypedHandler, b: UntypedHandler | undefined, once: boolean): void {
  const schema = typeof a === 'function' ? undefined : a
  const fn = (typeof a === 'function' ? a : b) as ServerHandler | undefined
  if (typeof fn !== 'function') throw new TypeError(`Handler for "${event}" must be a function`)
  hub.router.add(channel, event, schema, fn, once)
}
