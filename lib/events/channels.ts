import { FST_WEBCHANNEL_DUPLICATE_CHANNEL, FST_WEBCHANNEL_INVALID_OPTION } from '../errors.js'
import type { Session } from '../session/session.js'
import { PatternTable } from './pattern-table.js'

/** Decides whether a session may join a channel. Any falsy result or a throw refuses. */
export type Authorize = (session: Session, name: string) => boolean | Promise<boolean>

export interface ChannelDeclaration {
  /** Default: everyone may subscribe. */
  authorize?: Authorize
}

/** Longest channel name accepted from the wire. */
export const MAX_CHANNEL_NAME = 256

/** A name a client may subscribe to and the app may emit to: no `*`, which only patterns use. */
export function isChannelName (name: unknown): name is string {
  return typeof name === 'string' && name !== '' && name.length <= MAX_CHANNEL_NAME && !name.includes('*')
}

/**
 * Channels: declarations and live memberships. A channel is a name that
 * sessions subscribe to; events emitted to it reach every subscriber, on the
 * channel of the same name (ws-wrapper's `c`). A channel exists for clients
 * only if declared (by name or `*` pattern); subscribers are kept per channel
 * name so a fan-out walks one Set.
 */
export class Channels {
  private readonly declared = new PatternTable<ChannelDeclaration>()
  private readonly members = new Map<string, Set<Session>>()

  declare (pattern: string, decl: ChannelDeclaration = {}): void {
    if (typeof pattern !== 'string' || pattern === '' || pattern.length > MAX_CHANNEL_NAME) {
      throw new FST_WEBCHANNEL_INVALID_OPTION('channel', 'a channel name or pattern must be a non-empty string')
    }
    if (decl.authorize !== undefined && typeof decl.authorize !== 'function') {
      throw new FST_WEBCHANNEL_INVALID_OPTION('authorize', 'must be a function')
    }
    if (this.declared.has(pattern)) throw new FST_WEBCHANNEL_DUPLICATE_CHANNEL(pattern)
    this.declared.set(pattern, decl)
  }

  /** Declared names and patterns, in declaration order (exact names first). */
  declarations (): string[] {
    return [...this.declared.entries()].map(([source]) => source)
  }

  isDeclared (name: string): boolean {
    return this.declared.match(name) !== undefined
  }

  /** Runs the declaration's authorize hook; false for undeclared channels. */
  async authorize (session: Session, name: string): Promise<boolean> {
    const decl = this.declared.match(name)
    if (decl === undefined) return false
    if (decl.authorize === undefined) return true
    try {
      return (await decl.authorize(session, name)) === true
    } catch (err) {
      session.log.error({ err, channel: name }, 'webchannel: authorize hook threw')
      return false
    }
  }

  join (session: Session, name: string): void {
    if (session.closed) return
    let set = this.members.get(name)
    if (set === undefined) {
      set = new Set()
      this.members.set(name, set)
    }
    set.add(session)
    session.addChannel(name)
  }

  leave (session: Session, name: string): boolean {
    const set = this.members.get(name)
    session.removeChannel(name)
    if (set === undefined || !set.delete(session)) return false
    if (set.size === 0) this.members.delete(name)
    return true
  }

  leaveAll (session: Session): void {
    for (const name of session.channels) {
      const set = this.members.get(name)
      if (set !== undefined && set.delete(session) && set.size === 0) this.members.delete(name)
    }
    session.clearChannels()
  }

  subscribers (name: string): ReadonlySet<Session> | undefined {
    return this.members.get(name)
  }

  /** Channel names with at least one local subscriber. */
  names (): IterableIterator<string> {
    return this.members.keys()
  }
}
