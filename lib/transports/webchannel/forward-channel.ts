import type { ForwardMap } from '../../codecs/webchannel-maps.js'

/**
 * Hands one map to the app: undefined when the app accepted it synchronously,
 * else a promise that resolves once it did. Throws or rejects when refused.
 */
export type Deliver = (map: ForwardMap) => Promise<void> | undefined

/** How a forward POST ended: its maps were all accepted, or it must be retried. */
export type ForwardOutcome = 'accepted' | 'retry'

const ACCEPTED: Promise<ForwardOutcome> = Promise.resolve('accepted')
const RETRY: Promise<ForwardOutcome> = Promise.resolve('retry')

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
  private pumping = false
  /** Who waits for the pump to stop (terminate). */
  private idleWaiters: Array<() => void> = []
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
    for (let i = from; i < maps.length; i++) {
      const m = maps[i]
      if (m.id > upTo) upTo = m.id
      // Retries and duplicates: already delivered, or already waiting.
      if (m.id >= this.next && !this.buffer.has(m.id)) this.buffer.set(m.id, m)
    }
    if (upTo < this.next) return ACCEPTED
    if (this.buffer.size > this.maxBuffered) {
      this.dropFrom(this.next)
      return RETRY
    }
    return new Promise<ForwardOutcome>(resolve => {
      const w: Waiter = { upTo, resolve, timer: null }
      this.waiters.add(w)
      this.pump()
    })
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
    this.buffer.delete(this.next)
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
