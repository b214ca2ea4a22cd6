import type { OutboundMessage } from '../transports/transport.js'

/** Where a published message goes. `except`: session ids left out. */
export type Target =
  | { kind: 'channel', name: string, except?: ReadonlySet<string> }
  | { kind: 'session', id: string }
  | { kind: 'all', except?: ReadonlySet<string> }

/** What an instance offers its adapter: delivery to, and counts of, its own sessions. */
export interface LocalSessions {
  /** Hand a message to this instance's sessions; returns how many took it. */
  deliver (target: Target, message: OutboundMessage): number
  /** How many of this instance's sessions the target reaches now. */
  count (target: Target): number
}

/**
 * Cross-instance fan-out. The hub publishes every emit through the adapter;
 * the adapter delivers it locally and (for multi-instance adapters such as
 * Redis) to the other instances, which deliver it to their own sessions.
 * The in-memory default only delivers locally.
 */
export interface Adapter {
  /** Called once by the hub, before any publish. */
  init (local: LocalSessions): void | Promise<void>
  /** Publish to every instance; returns the local delivery count. */
  publish (target: Target, message: OutboundMessage): number
  /** How many sessions the target reaches on every instance the adapter knows. */
  count (target: Target): Promise<number>
  close (): void | Promise<void>
}

export class MemoryAdapter implements Adapter {
  private local: LocalSessions | null = null

  init (local: LocalSessions): void {
    this.local = local
  }

  publish (target: Target, message: OutboundMessage): number {
    return this.local === null ? 0 : this.local.deliver(target, message)
  }

  count (target: Target): Promise<number> {
    return Promise.resolve(this.local === null ? 0 : this.local.count(target))
  }

  close (): void {
    this.local = null
  }
}
