import type { WireArray } from '../../codecs/webchannel-framing.js'

// Same shape as the queued arrays (not frozen), so reads of items stay monomorphic.
const RELEASED: WireArray = { id: -1, payload: '' }

/**
 * The session's server→client arrays, in id order, kept until the client
 * acknowledges them (AID). Ids are consecutive from 0 (the `c` array) and never
 * reused or skipped: the client's AID counts on it. A back channel that dies
 * loses what it carried, so the next one resends everything above its AID.
 */
export class ArrayQueue {
  private items: WireArray[] = []
  private head = 0
  private nextId = 0
  /** UTF-16 units of the unacknowledged payloads (what the caps bound). */
  private units = 0

  /** Append a payload (JSON text); returns its array id. */
  push (payload: string): number {
    const id = this.nextId++
    this.items.push({ id, payload })
    this.units += payload.length
    return id
  }

  /** Replace the payload of a queued array (the `c` array is reserved before the SID exists). */
  setPayload (id: number, payload: string): void {
    const item = this.items[this.head + (id - (this.items[this.head]?.id ?? 0))]
    if (item === undefined || item.id !== id) return
    this.units += payload.length - item.payload.length
    this.items[this.items.indexOf(item)] = { id, payload }
  }

  /** Drop every array with id ≤ aid. An AID beyond what was sent is clamped. */
  ack (aid: number): void {
    const items = this.items
    while (this.head < items.length && items[this.head].id <= aid) {
      this.units -= items[this.head].payload.length
      // Let the payload go now, not at the next compaction.
      items[this.head] = RELEASED
      this.head++
    }
    // Compact once the acknowledged prefix dominates, keeping acks O(1) amortised.
    if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head)
      this.head = 0
    }
  }

  /** Unacknowledged arrays with id > after, in order. */
  after (after: number): WireArray[] {
    const items = this.items
    let i = this.head
    // Ids are consecutive, so the start index is computed, not searched.
    if (i < items.length) i = Math.max(i, this.head + (after + 1 - items[this.head].id))
    return items.slice(i)
  }

  /** Unacknowledged arrays. */
  get length (): number { return this.items.length - this.head }
  /** Unacknowledged payload size (UTF-16 units, i.e. bytes for ASCII JSON). */
  get size (): number { return this.units }
  /** Id of the newest array, -1 before the first. */
  get lastId (): number { return this.nextId - 1 }

  /** Size of the unacknowledged arrays with id ≤ upTo (written but not yet acknowledged). */
  sizeThrough (upTo: number): number {
    let n = 0
    for (let i = this.head; i < this.items.length && this.items[i].id <= upTo; i++) n += this.items[i].payload.length
    return n
  }

  /** Continue a stored session: its unacknowledged arrays, and the next id after everything it had queued. */
  resume (arrays: ReadonlyArray<{ id: number, payload: string }>, nextId: number): void {
    this.items = arrays.map(a => ({ id: a.id, payload: a.payload }))
    this.head = 0
    this.nextId = nextId
    this.units = 0
    for (const a of arrays) this.units += a.payload.length
  }

  clear (): void {
    this.items = []
    this.head = 0
    this.units = 0
  }
}
