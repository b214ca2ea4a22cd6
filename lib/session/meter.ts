import type { EndReason, TransportKind } from '../transports/transport.js'

/**
 * Counters for one instance, kept only when metrics are on (the plugin's
 * `metrics` option): plain numbers, read by the metrics exporter at scrape
 * time. Sizes are in characters of the JSON text (bytes for ASCII), which is
 * what is at hand without encoding anything twice.
 */
export class Meter {
  readonly opened: Record<TransportKind, number> = { websocket: 0, webchannel: 0 }
  readonly ended: Record<TransportKind, Partial<Record<EndReason, number>>> = { websocket: {}, webchannel: {} }
  readonly messagesIn: Record<TransportKind, number> = { websocket: 0, webchannel: 0 }
  readonly charsIn: Record<TransportKind, number> = { websocket: 0, webchannel: 0 }
  readonly messagesOut: Record<TransportKind, number> = { websocket: 0, webchannel: 0 }
  readonly charsOut: Record<TransportKind, number> = { websocket: 0, webchannel: 0 }
  /** Messages the server did not deliver: to a closed or too-slow session ('not-sent'), over a rate limit ('rate-limited'). */
  readonly dropped: Record<'not-sent' | 'rate-limited', number> = { 'not-sent': 0, 'rate-limited': 0 }

  received (kind: TransportKind, size: number): void {
    this.messagesIn[kind]++
    this.charsIn[kind] += size
  }

  sent (kind: TransportKind, size: number, ok: boolean): void {
    if (!ok) {
      this.dropped['not-sent']++
      return
    }
    this.messagesOut[kind]++
    this.charsOut[kind] += size
  }

  end (kind: TransportKind, reason: EndReason): void {
    const byReason = this.ended[kind]
    byReason[reason] = (byReason[reason] ?? 0) + 1
  }
}
