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
  /** What the adapter reports: the bus lost or regained, messages dropped (the hub logs it and calls `onAdapterEvent`). */
  adapterEvent? (event: AdapterEvent): void
}

/** Why a cross-instance message was given up. */
export type DropReason = 'count' | 'bytes' | 'age' | 'failed' | 'closed'

/**
 * What an adapter tells the app. `down`: the bus is unreachable, cross-instance
 * messages are buffered (local delivery goes on). `up`: connected again, after
 * publishing `flushed` buffered messages. `drop`: `count` messages given up
 * (`total` since start). `error`: a PUBLISH or SUBSCRIBE failed while connected.
 */
export type AdapterEvent =
  | { type: 'down', error: string | null }
  | { type: 'error', error: string }
  | { type: 'up', flushed: number }
  | { type: 'drop', reason: DropReason, count: number, total: number }

/** An adapter's state, as `app.webchannel.health()` reports it. */
export interface AdapterHealth {
  /** Connected to the bus: publishing and subscribed (always true in memory). */
  connected: boolean
  /** Cross-instance messages waiting for the bus, and their bytes. */
  buffered: number
  bufferedBytes: number
  /** Cross-instance messages given up since start, and by reason. */
  dropped: number
  droppedBy: Partial<Record<DropReason, number>>
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
  /** The adapter's state; an adapter without it counts as always connected. */
  health? (): AdapterHealth
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

  health (): AdapterHealth {
    return { connected: true, buffered: 0, bufferedBytes: 0, dropped: 0, droppedBy: {} }
  }
}
