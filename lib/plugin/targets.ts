import { encodeEvent } from '../codecs/envelope.js'
import { CloseCode, FST_WEBCHANNEL_INVALID_TARGET } from '../errors.js'
import { isChannelName } from '../events/channels.js'
import type { ArgsOf, EventSchema } from '../events/schema.js'
import type { Target } from '../hub/adapter.js'
import type { Hub } from '../hub/hub.js'
import type { Session } from '../session/session.js'
import { OutboundMessage } from '../transports/transport.js'

/** Events by name, as `defineEvents` declares them; types what `emit` accepts. */
export type EventMap = Record<string, EventSchema>

/** A session, or its id. */
export type SessionRef = string | Pick<Session, 'id'>

/**
 * Where an emit goes: the subscribers of one channel (`app.webchannel.to(name)`)
 * or every session (`app.webchannel.all()`), minus the sessions named in
 * `except`. Immutable: `except` returns a new target. With an event map
 * (`to<typeof events>(name)`), `emit` checks event names and arguments.
 */
export class Broadcast<E extends EventMap = EventMap> {
  private readonly hub: Hub
  private readonly channel: string | null
  private readonly skip: ReadonlySet<string> | undefined

  /** @internal use `app.webchannel.to()` or `.all()`. */
  constructor (hub: Hub, channel: string | null, skip?: ReadonlySet<string>) {
    if (channel !== null && !isChannelName(channel)) throw new FST_WEBCHANNEL_INVALID_TARGET(String(channel))
    this.hub = hub
    this.channel = channel
    this.skip = skip
  }

  /** Leave these sessions out (e.g. the sender of a chat message). */
  except (...sessions: Array<SessionRef | Iterable<SessionRef>>): Broadcast<E> {
    const skip = new Set(this.skip)
    for (const s of sessions) {
      if (typeof s === 'string' || !(Symbol.iterator in s)) skip.add(idOf(s as SessionRef))
      else for (const one of s) skip.add(idOf(one))
    }
    return new Broadcast<E>(this.hub, this.channel, skip)
  }

  /**
   * Emit to every session the target reaches, on every transport and every
   * instance. Serialised once. Returns the deliveries on this instance only.
   */
  emit<K extends keyof E & string> (event: K, ...args: ArgsOf<E[K]>): number {
    return this.hub.publish(this.target(), new OutboundMessage(encodeEvent(this.channel, event, args)))
  }

  /** Sessions the target reaches on this instance. */
  localCount (): number {
    return this.hub.count(this.target())
  }

  /** Sessions the target reaches on every instance (with the Redis adapter, the cluster). */
  count (): Promise<number> {
    return this.hub.clusterCount(this.target())
  }

  private target (): Target {
    return this.channel === null ? { kind: 'all', except: this.skip } : { kind: 'channel', name: this.channel, except: this.skip }
  }
}

/** One session by id, wherever it lives (`app.webchannel.toSession(id)`). */
export class SessionTarget<E extends EventMap = EventMap> {
  private readonly hub: Hub
  readonly id: string

  /** @internal */
  constructor (hub: Hub, id: string) {
    this.hub = hub
    this.id = id
  }

  /** Emit on the session's main channel, on whichever instance has it. Returns 1 if delivered here, else 0. */
  emit<K extends keyof E & string> (event: K, ...args: ArgsOf<E[K]>): number {
    return this.hub.publish({ kind: 'session', id: this.id }, new OutboundMessage(encodeEvent(null, event, args)))
  }

  /** A request to the client; a session on another instance fails at once with FST_WEBCHANNEL_SESSION_NOT_LOCAL. */
  request (event: string, ...args: unknown[]): Promise<unknown> {
    return this.hub.requestSession(this.id, event, args)
  }

  /** Subscribe the session to a channel, without its authorize hook (this instance's sessions). */
  join (channel: string): boolean {
    if (!isChannelName(channel)) throw new FST_WEBCHANNEL_INVALID_TARGET(String(channel))
    const s = this.hub.get(this.id)
    if (s === undefined || s.closed) return false
    this.hub.channels.join(s, channel)
    return true
  }

  leave (channel: string): boolean {
    const s = this.hub.get(this.id)
    return s !== undefined && this.hub.channels.leave(s, channel)
  }

  /** Close the session (this instance's sessions). */
  close (code: number = CloseCode.NORMAL, reason = ''): boolean {
    const s = this.hub.get(this.id)
    if (s === undefined) return false
    s.close(code, reason)
    return true
  }
}

function idOf (s: SessionRef): string {
  return typeof s === 'string' ? s : s.id
}
