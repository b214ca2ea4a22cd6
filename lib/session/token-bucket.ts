/**
 * A token bucket: `rate` tokens a second, at most `burst` saved up. Refilled
 * lazily from the clock when asked, so an idle bucket costs no timer.
 */
export class TokenBucket {
  private tokens: number
  private last: number
  private readonly rate: number
  private readonly burst: number

  constructor (rate: number, burst: number, now = Date.now()) {
    this.rate = rate
    this.burst = burst
    this.tokens = burst
    this.last = now
  }

  /**
   * Take `n` tokens if there are that many; false leaves the bucket as it was.
   * More than `burst` at once (one WebChannel POST may carry up to 1000
   * messages) takes a full bucket: it could never be granted otherwise.
   */
  take (n = 1, now = Date.now()): boolean {
    this.refill(now)
    const need = Math.min(n, this.burst)
    if (this.tokens < need) return false
    this.tokens -= need
    return true
  }

  /** Seconds until `n` tokens are there (for Retry-After), at least 1. */
  retryAfter (n = 1, now = Date.now()): number {
    this.refill(now)
    return Math.max(1, Math.ceil((Math.min(n, this.burst) - this.tokens) / this.rate))
  }

  /** Whether the bucket is full again (its key can be forgotten). */
  full (now = Date.now()): boolean {
    this.refill(now)
    return this.tokens >= this.burst
  }

  private refill (now: number): void {
    const elapsed = now - this.last
    if (elapsed <= 0) return
    this.last = now
    this.tokens = Math.min(this.burst, this.tokens + elapsed * this.rate / 1000)
  }
}

/** Token buckets by key (an IP, a principal), forgotten once full so idle keys cost nothing. */
export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>()
  private readonly rate: number
  private readonly burst: number
  private takes = 0

  constructor (rate: number, burst: number) {
    this.rate = rate
    this.burst = burst
  }

  /** 0: taken; otherwise the seconds to wait. */
  take (key: string, n = 1): number {
    // Every so often, drop the buckets that refilled: the map stays as small as the keys in use.
    if (++this.takes % 1024 === 0) this.prune()
    let b = this.buckets.get(key)
    if (b === undefined) {
      b = new TokenBucket(this.rate, this.burst)
      this.buckets.set(key, b)
    }
    return b.take(n) ? 0 : b.retryAfter(n)
  }

  get size (): number { return this.buckets.size }

  private prune (): void {
    const now = Date.now()
    for (const [k, b] of this.buckets) if (b.full(now)) this.buckets.delete(k)
  }
}
