import type { Authorize } from '../events/channels.js'
import type { EventContext } from '../events/context.js'
import type { ServerHandler } from '../events/router.js'
import type { ArgsOf, EventSchema, ResultOf } from '../events/schema.js'
import type { Adapter, AdapterHealth } from '../hub/adapter.js'
import type { Hub, RawHandler, SessionInfo } from '../hub/hub.js'
import type { RateLimitCounts } from '../hub/rate-limits.js'
import type { Session } from '../session/session.js'
import { asyncApiDocument, type AsyncApiOptions } from './asyncapi.js'
import type { MetricsText } from './metrics.js'
import { Broadcast, SessionTarget, type EventMap } from './targets.js'

type MaybePromise<T> = T | Promise<T>

/** A handler typed from its event's schema: `(ctx, ...args) => response`. */
export type TypedHandler<S> = (ctx: EventContext, ...args: ArgsOf<S>) => MaybePromise<ResultOf<S>>
export type UntypedHandler = (ctx: EventContext, ...args: any[]) => unknown

/** Declare events once (e.g. in a module shared with the client); the value is the schema map itself. */
export function defineEvents<const T extends Record<string, EventSchema>> (events: T): T {
  return events
}

/** Handlers for one named channel, or for every channel a `*` pattern matches. Emits go through `to()`. */
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
}

/** Where the plugin's routes live, and the plugin's AsyncAPI options (for `asyncapi()`). */
export interface ApiContext {
  prefix: string
  wsPath: string
  asyncapi: AsyncApiOptions
}

/** The `app.webchannel` decorator. */
export class WebChannelApi {
  /** @internal */
  readonly hub: Hub
  private readonly context: ApiContext
  constructor (hub: Hub, context: ApiContext = { prefix: '/channel', wsPath: '/ws', asyncapi: {} }) {
    this.hub = hub
    this.context = context
  }

  /**
   * An AsyncAPI 3 document of everything declared so far: handlers with their
   * schemas (requests with their replies), channels, and the server's emits
   * (`emits`). Options default to the plugin's `asyncapi` option.
   */
  asyncapi (options: AsyncApiOptions = {}): Record<string, unknown> {
    return asyncApiDocument(this.hub, this.context.prefix, this.context.wsPath, { ...this.context.asyncapi, ...options })
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

  /** Handlers scoped to a named channel; a `*` pattern matches many. */
  of (channel: string): ChannelApi {
    return new ChannelApi(this.hub, channel)
  }

  /** Declare a channel (name or `*` pattern) clients may subscribe to. */
  channel (pattern: string, options: { authorize?: Authorize } = {}): this {
    this.hub.channels.declare(pattern, options)
    return this
  }

  /**
   * The subscribers of one channel, on every transport and instance:
   * `to('room:1').except(sender).emit('chat.message', msg)`. A pattern is
   * refused (FST_WEBCHANNEL_INVALID_TARGET): emits name one channel.
   */
  to<E extends EventMap = EventMap> (channel: string): Broadcast<E> {
    return new Broadcast<E>(this.hub, channel)
  }

  /** Every session, on its main channel: `all().emit('maintenance', at)`. */
  all<E extends EventMap = EventMap> (): Broadcast<E> {
    return new Broadcast<E>(this.hub, null)
  }

  /** One session by id, wherever it lives: emit, request, join, leave, close. */
  toSession<E extends EventMap = EventMap> (sessionId: string): SessionTarget<E> {
    return new SessionTarget<E>(this.hub, sessionId)
  }

  /** A live session of this instance. */
  session (id: string): Session | undefined {
    return this.hub.get(id)
  }

  /** Live sessions of this instance, by id. */
  get sessions (): ReadonlyMap<string, Session> {
    return this.hub.sessions
  }

  /** Messages the event layer does not claim (non-envelope text, binary frames, plain WebChannel maps). One handler: a second throws FST_WEBCHANNEL_DUPLICATE_RAW_HANDLER. */
  onRaw (fn: RawHandler): this {
    this.hub.onRaw(fn)
    return this
  }

  /**
   * What this instance holds now: open sessions by transport, and records the
   * transports keep (a WebChannel connection lingers after its session ended
   * until its back channel has carried `close`, at most `sessionTimeout`).
   */
  stats (): { sessions: { websocket: number, webchannel: number }, records: Record<string, number> } {
    return this.hub.stats()
  }

  private metricsText: MetricsText | null = null

  /** @internal */
  setMetrics (text: MetricsText): void {
    this.metricsText = text
  }

  /** This plugin's metrics in Prometheus text format (the `metrics` option turns them on). */
  metrics (): Promise<string> {
    return this.metricsText === null ? Promise.resolve('# fastify-webchannel: metrics are off (the metrics option)\n') : this.metricsText()
  }

  /** Every live session of this instance: transport, principal identity, age, queued bytes, channels. End one with `toSession(id).close()`. */
  inspect (): SessionInfo[] {
    return this.hub.inspect()
  }

  /** How often each built-in rate limit refused something (messages, new sessions, unknown SIDs) since start. */
  get rateLimited (): Readonly<RateLimitCounts> {
    return { ...this.hub.limits.counts }
  }

  /**
   * `ok`, or `degraded` while the adapter cannot reach its bus (Redis): local delivery goes on, cross-instance
   * messages are buffered (`adapter.buffered`) and what the buffer's bounds give up is counted (`adapter.dropped`).
   */
  health (): { status: 'ok' | 'degraded', adapter: AdapterHealth } {
    return this.hub.health()
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
