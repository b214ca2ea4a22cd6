import type { ForwardMap } from '../../codecs/webchannel-maps.js'

/**
 * Hands one map to the app: undefined when the app accepted it synchronously,
 * else a promise that resolves once it did. Throws or rejects when refused.
 */
export type Deliver = (map: ForwardMap) => Promise<void> | undefined

/**
 * How a forward POST ended: its maps were all accepted; or it must be retried
 * (not acknowledged: the client resends it); or `overflow`: holding its maps
 * would pass the reorder buffer's bounds (`maxBuffered` maps or
 * `maxBufferedBytes`), so none of them was taken. Answer an overflow with a
 * refusal (HTTP 400): a client that keeps that many maps in flight is broken
 * or hostile, and a retry would only come back to the same full buffer.
 */
export type ForwardOutcome = 'accepted' | 'retry' | 'overflow'

const ACCEPTED: Promise<ForwardOutcome> = Promise.resolve('accepted')
const RETRY: Promise<ForwardOutcome> = Promise.resolve('retry')
const OVERFLOW: Promise<ForwardOutcome> = Promise.resolve('overflow')

/** Default bound on the bytes of map data held for reordering, per session. */
export const DEFAULT_MAX_BUFFERED_BYTES = 4 * 1024 * 1024

/** Bytes a held map keeps alive: 2 per UTF-16 code unit of its keys and values (V8's two-byte strings). */
export function mapBytes (map: ForwardMap): number {
  if (map.kind === 'data') return 2 * map.data.length
  if (map.kind === 'bad') return 0
  let units = 0
  for (const key in map.data) units += key.length + map.data[key].length
  return 2 * units
}

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
  /** mapBytes() of every map in `buffer`. */
  private bufferedBytes = 0
  private readonly waiters = new Set<Waiter>()
  private pumping = false
  /** Who waits for the pump to stop (terminate). */
  private idleWaiters: Array<() => void> = []
  private disposed = false
  private readonly deliver: Deliver
  private readonly gapTimeout: number
  private readonly maxBuffered: number
  private readonly maxBufferedBytes: number

  /**
   * `gapTimeout`: how long a POST whose maps start beyond the next id waits
   * for the earlier POST (concurrent or reordered requests). `maxBuffered`
   * and `maxBufferedBytes` bound the maps held for that, in count and in
   * bytes (see mapBytes); a POST that would pass either gets `overflow`.
   */
  constructor (deliver: Deliver, gapTimeout: number, maxBuffered: number, maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES) {
    this.deliver = deliver
    this.gapTimeout = gapTimeout
    this.maxBuffered = maxBuffered
    this.maxBufferedBytes = maxBufferedBytes
  }

  /** Maps held for reordering (or behind a handler still running), and their bytes. */
  get held (): { maps: number, bytes: number } {
    return { maps: this.buffer.size, bytes: this.bufferedBytes }
  }

  /** Map ids below this have been delivered. */
  get delivered (): number { return this.next }

  /** A stored session continues here: maps below `next` were delivered by its previous owner. */
  resumeAt (next: number): void {
    this.next = next
  }

  /** Offer one POST's maps; resolves when they are all delivered, or when the POST must be retried. */
  submit (maps: readonly ForwardMap[]): Promise<ForwardOutcome> {
    if (this.disposed) return RETRY
    let from = 0
    if (!this.pumping && this.buffer.size === 0) {
      // The usual case: nothing waiting and the maps follow on from the next
      // id. Deliver them straight from the POST; only a gap, or a handler that
      // answers with a promise, sends the rest through the buffer.
      for (; from < maps.length; from++) {
        const m = maps[from]
        if (m.id < this.next) continue
        if (m.id !== this.next) break
        let pending: Promise<void> | undefined
        try {
          pending = m.kind === 'bad' ? undefined : this.deliver(m)
        } catch {
          return RETRY
        }
        if (this.disposed) return RETRY
        if (pending !== undefined) {
          // Later maps wait for this one: buffer from here on (this map
          // included, accepted() takes it out) and let the pump resume.
          this.pumping = true
          this.resumeAfter(pending)
          break
        }
        this.next++
      }
      if (from === maps.length) return ACCEPTED
    }
    let upTo = -1
    // Retries and duplicates: already delivered, or already waiting.
    const fresh = new Map<number, ForwardMap>()
    for (let i = from; i < maps.length; i++) {
      const m = maps[i]
      if (m.id > upTo) upTo = m.id
      if (m.id >= this.next && !this.buffer.has(m.id)) fresh.set(m.id, m)
    }
    if (upTo < this.next) return ACCEPTED
    if (this.overflows(fresh)) return OVERFLOW
    for (const m of fresh.values()) this.hold(m)
    return new Promise<ForwardOutcome>(resolve => {
      const w: Waiter = { upTo, resolve, timer: null }
      this.waiters.add(w)
      this.pump()
    })
  }

  /**
   * Whether holding `fresh` would pass the bounds. Checked before anything is
   * held, so a refused POST leaves the buffer as it was. Maps that close the
   * gap are delivered at once, not held: with no handler running, only those
   * beyond the run of consecutive ids from `next` count.
   */
  private overflows (fresh: ReadonlyMap<number, ForwardMap>): boolean {
    let run = this.next
    if (!this.pumping) while (fresh.has(run) || this.buffer.has(run)) run++
    let count = 0
    let bytes = 0
    for (const m of fresh.values()) {
      if (m.id < run) continue
      count++
      bytes += mapBytes(m)
    }
    // Maps of the run already held leave as soon as the pump runs.
    let leaving = { maps: 0, bytes: 0 }
    if (run > this.next) leaving = this.heldBelow(run)
    return this.buffer.size - leaving.maps + count > this.maxBuffered ||
      this.bufferedBytes - leaving.bytes + bytes > this.maxBufferedBytes
  }

  private heldBelow (run: number): { maps: number, bytes: number } {
    let maps = 0
    let bytes = 0
    for (let id = this.next; id < run; id++) {
      const m = this.buffer.get(id)
      if (m === undefined) continue
      maps++
      bytes += mapBytes(m)
    }
    return { maps, bytes }
  }

  /** Resolves once no delivery is running (a terminate waits for in-flight maps). */
  idle (): Promise<void> {
    if (!this.pumping) return Promise.resolve()
    return new Promise(resolve => this.idleWaiters.push(resolve))
  }

  /** The session is gone: pending POSTs are told to retry (they will then find no session). */
  dispose (): void {
    this.disposed = true
    this.buffer.clear()
    this.bufferedBytes = 0
    for (const w of [...this.waiters]) this.settle(w, 'retry')
  }

  private pump (): void {
    if (this.pumping) return
    this.pumping = true
    this.step()
  }

  /**
   * Deliver buffered maps in id order. Synchronous while the app accepts
   * synchronously (the common case: no promise, no microtask per map); a map
   * whose handler returned a promise resumes the loop once it settles.
   */
  private step (): void {
    while (!this.disposed) {
      const map = this.buffer.get(this.next)
      if (map === undefined) break
      let pending: Promise<void> | undefined
      try {
        // `_badmap`: the client could not serialise it; it still takes its id.
        pending = map.kind === 'bad' ? undefined : this.deliver(map)
      } catch {
        this.refused()
        return
      }
      if (pending !== undefined) {
        this.resumeAfter(pending)
        return
      }
      // The app may have ended the session from inside its handler.
      if (this.disposed) break
      this.accepted()
    }
    this.stopped()
  }

  /** The app is still taking map `next`: go on once it has (or refused it). */
  private resumeAfter (pending: Promise<void>): void {
    pending.then(() => {
      if (this.disposed) return this.stopped()
      this.accepted()
      this.step()
    }, () => this.refused())
  }

  /** Map `next` is delivered: it leaves the buffer, and POSTs it completes are answered. */
  private accepted (): void {
    this.release(this.next)
    this.next++
    for (const w of this.waiters) if (w.upTo < this.next) this.settle(w, 'accepted')
  }

  /** The app refused map `next`: it and everything after it go back for a retry. */
  private refused (): void {
    if (!this.disposed) this.dropFrom(this.next)
    this.stopped()
  }

  private stopped (): void {
    this.pumping = false
    if (!this.disposed) this.armGapTimers()
    const waiters = this.idleWaiters
    if (waiters.length > 0) {
      this.idleWaiters = []
      for (const resolve of waiters) resolve()
    }
  }

  /** Whoever still waits once the pump stops waits on a gap (an earlier POST not here yet): bound that wait. */
  private armGapTimers (): void {
    for (const w of this.waiters) {
      if (w.timer === null) w.timer = setTimeout(() => this.gaveUp(w), this.gapTimeout)
    }
  }

  /** A POST waited too long for its gap. Once no POST waits, nothing held is owed to anyone: free it (retries resend it). */
  private gaveUp (w: Waiter): void {
    this.settle(w, 'retry')
    if (this.waiters.size === 0 && !this.pumping) this.dropFrom(this.next)
  }

  /** Forget buffered maps from `id` on and send their POSTs back for a retry. */
  private dropFrom (id: number): void {
    for (const k of [...this.buffer.keys()]) if (k >= id) this.release(k)
    for (const w of [...this.waiters]) if (w.upTo >= id) this.settle(w, 'retry')
  }

  private hold (map: ForwardMap): void {
    this.buffer.set(map.id, map)
    this.bufferedBytes += mapBytes(map)
  }

  private release (id: number): void {
    const map = this.buffer.get(id)
    if (map === undefined) return
    this.buffer.delete(id)
    this.bufferedBytes -= mapBytes(map)
  }

  private settle (w: Waiter, outcome: ForwardOutcome): void {
    if (!this.waiters.delete(w)) return
    if (w.timer !== null) clearTimeout(w.timer)
    w.resolve(outcome)
  }
}
