import type { AnyListener } from './listeners.js'
import type { EventArgs, EventListener, EventMap, EventName, EventResult, RequestOptions } from './types.js'

/** What a channel needs from its client. @internal */
export interface ChannelHost {
  emitOn (channel: string | null, event: string, args: unknown[]): void
  requestOn (channel: string | null, event: string, args: unknown[], options: RequestOptions): Promise<unknown>
  listen (channel: string | null, event: string, fn: AnyListener, once: boolean): void
  unlisten (channel: string | null, event: string, fn?: AnyListener): void
  subscribe (name: string): Promise<void>
  unsubscribe (name: string): Promise<void>
}

/**
 * A named channel (`client.of('room:lobby')`): events and requests carry
 * `"c": name`, and broadcasts the server emits to the channel reach its
 * listeners. Pub/sub channels need `subscribe()` first.
 */
export class ClientChannel<E extends EventMap = EventMap> {
  readonly name: string
  private readonly host: ChannelHost

  /** @internal use `client.of(name)` */
  constructor (host: ChannelHost, name: string) {
    this.host = host
    this.name = name
  }

  emit<K extends EventName<E>> (event: K, ...args: EventArgs<E, K>): void {
    this.host.emitOn(this.name, event, args)
  }

  request<K extends EventName<E>> (event: K, ...args: EventArgs<E, K>): Promise<EventResult<E, K>> {
    return this.host.requestOn(this.name, event, args, {}) as Promise<EventResult<E, K>>
  }

  requestWith<K extends EventName<E>> (options: RequestOptions, event: K, ...args: EventArgs<E, K>): Promise<EventResult<E, K>> {
    return this.host.requestOn(this.name, event, args, options) as Promise<EventResult<E, K>>
  }

  on<K extends EventName<E>> (event: K, fn: EventListener<E, K>): this {
    this.host.listen(this.name, event, fn as AnyListener, false)
    return this
  }

  once<K extends EventName<E>> (event: K, fn: EventListener<E, K>): this {
    this.host.listen(this.name, event, fn as AnyListener, true)
    return this
  }

  /** Remove one listener, or all of the event's listeners. */
  off<K extends EventName<E>> (event: K, fn?: EventListener<E, K>): this {
    this.host.unlisten(this.name, event, fn as AnyListener | undefined)
    return this
  }

  /** Join this channel; kept across reconnects until `unsubscribe()`. Rejects with code WEBCHANNEL_FORBIDDEN when refused. */
  subscribe (): Promise<void> {
    return this.host.subscribe(this.name)
  }

  unsubscribe (): Promise<void> {
    return this.host.unsubscribe(this.name)
  }
}
