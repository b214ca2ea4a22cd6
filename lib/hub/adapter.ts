import type { OutboundMessage } from '../transports/transport.js'

/** Where a published message goes. */
export type Target =
  | { kind: 'channel', name: string }
  | { kind: 'session', id: string }
  | { kind: 'all' }

/**
 * Cross-instance fan-out. The hub publishes every emit through the adapter;
 * the adapter delivers it locally and (for multi-instance adapters such as
 * Redis) to the other instances, which deliver it to their own sessions.
 * The in-memory default only delivers locally.
 */
export interface Adapter {
  /** Called once by the hub: `deliver` hands a message to this instance's sessions. */
  init (deliver: (target: Target, message: OutboundMessage) => number): void | Promise<void>
  /** Publish to every instance; resolves with the local delivery count. */
  publish (target: Target, message: OutboundMessage): number
  close (): void | Promise<void>
}

export class MemoryAdapter implements Adapter {
  private deliver: ((target: Target, message: OutboundMessage) => number) | null = null

  init (deliver: (target: Target, message: OutboundMessage) => number): void {
    this.deliver = deliver
  }

  publish (target: Target, message: OutboundMessage): number {
    return this.deliver === null ? 0 : this.deliver(target, message)
  }

  close (): void {
    this.deliver = null
  }
}
