import type { ForwardMap } from '../../codecs/webchannel-maps.js'

/** Hands one map to the app; resolves once the app accepted it. */
export type Deliver = (map: ForwardMap) => Promise<void>

/** How a forward POST ended: its maps were all accepted, or it must be retried. */
export type ForwardOutcome = 'accepted' | 'retry'

interface Waiter {
  /** Highest map id the POST carried. */
  upTo: number
  resolve: (outcome: ForwardOutcome) => void
  timer: NodeJS.Timeout | null
}

/**
 * Client→server maps, delivered exactly once and in map-id order. A POST's
 * maps join a buffer keyed by id; one pump hands them to the app in order and
 * counts a map as delivered only after the app accepted it. A POST is
 * answered (acknowledged) once every map it carried is delivered. When the app
 * refuses a map, every POST waiting on it or later is told to retry; the
 * client resends them with the same RID and ids, and ids already delivered
 * are skipped (at-least-once delivery upstream, exactly-once to the app).
 */
export class ForwardChannel {
  /** Every map id below this one has been delivered. */
  private next = 0
  private readonly buffer = new Map<number, ForwardMap>()
  private readonly waiters = new Set<Waiter>()
  private pumping: Promise<void> | null = null
  private disposed = false
  private readonly deliver: Deliver
  private readonly gapTimeout: number
  private readonly maxBuffered: number

  /**
   * `gapTimeout`: how long a POST whose maps start beyond the next id waits
   * for the earlier POST (concurrent or reordered requests). `maxBuffered`
   * bounds maps held for that.
   */
  constructor (deliver: Deliver, gapTimeout: number, maxBuffered: number) {
    this.deliver = deliver
    this.gapTimeout = gapTimeout
    this.maxBuffered = maxBuffered
  }

  /** Map ids below this have been delivered. */
  get delivered (): number { return this.next }

  /** Offer one POST's maps; resolves when they are all delivered, or when the POST must be retried. */
  submit (maps: readonly ForwardMap[]): Promise<ForwardOutcome> {
    if (this.disposed) return Promise.resolve('retry')
    let upTo = -1
    for (const m of maps) {
      if (m.id > upTo) upTo = m.id
      // Retries and duplicates: already delivered, or already waiting.
      if (m.id >= this.next && !this.buffer.has(m.id)) this.buffer.set(m.id, m)
    }
    if (upTo < this.next) return Promise.resolve('accepted')
    if (this.buffer.size > this.maxBuffered) {
      this.dropFrom(this.next)
      return Promise.resolve('retry')
    }
    return new Promise<ForwardOutcome>(resolve => {
      const w: Waiter = { upTo, resolve, timer: null }
      this.waiters.add(w)
      this.pump()
    })
  }

  /** Resolves once no delivery is running (a terminate waits for in-flight maps). */
  async idle (): Promise<void> {
    while (this.pumping !== null) await this.pumping
  }

  /** The session is gone: pending POSTs are told to retry (they will then find no session). */
  dispose (): void {
    this.disposed = true
    this.buffer.clear()
    for (const w of [...this.waiters]) this.settle(w, 'retry')
  }

  private pump (): void {
    if (this.pumping !== null) return
    this.pumping = this.run().then(() => {
      this.pumping = null
      if (this.disposed) return
      // Maps that arrived while the last run was finishing.
      if (this.buffer.has(this.next)) this.pump()
      else this.armGapTimers()
    })
  }

  private async run (): Promise<void> {
    while (!this.disposed) {
      const map = this.buffer.get(this.next)
      if (map === undefined) break
      try {
        // `_badmap`: the client could not serialise it; it still takes its id.
        if (map.kind !== 'bad') await this.deliver(map)
      } catch {
        if (this.disposed) return
        this.dropFrom(this.next)
        return
      }
      if (this.disposed) return
      this.buffer.delete(this.next)
      this.next++
      for (const w of this.waiters) if (w.upTo < this.next) this.settle(w, 'accepted')
    }
  }

  /** Whoever still waits once the pump stops waits on a gap (an earlier POST not here yet): bound that wait. */
  private armGapTimers (): void {
    for (const w of this.waiters) {
      if (w.timer === null) w.timer = setTimeout(() => this.settle(w, 'retry'), this.gapTimeout)
    }
  }

  /** Forget buffered maps from `id` on and send their POSTs back for a retry. */
  private dropFrom (id: number): void {
    for (const k of [...this.buffer.keys()]) if (k >= id) this.buffer.delete(k)
    for (const w of [...this.waiters]) if (w.upTo >= id) this.settle(w, 'retry')
  }

  private settle (w: Waiter, outcome: ForwardOutcome): void {
    if (!this.waiters.delete(w)) return
    if (w.timer !== null) clearTimeout(w.timer)
    w.resolve(outcome)
  }
}
