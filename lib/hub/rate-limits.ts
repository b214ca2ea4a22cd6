import { principalKey } from '../session/principal.js'
import { KeyedBuckets, TokenBucket } from '../session/token-bucket.js'

/** The `rateLimit` bounds the hub applies (see options.ts). */
export interface RateLimitSettings {
  messages: false | { rate: number, burst: number }
  sessionsPerIp: false | { rate: number, burst: number }
  sessionsPerPrincipal: false | { rate: number, burst: number }
  unknownSidPerIp: false | { rate: number, burst: number }
}

/** How often each bound refused something, for the app to watch. */
export interface RateLimitCounts {
  messages: number
  sessions: number
  unknownSid: number
}

/**
 * The built-in rate limits: new sessions per IP and per principal, requests
 * naming unknown SIDs per IP (keyed token buckets), and a bucket per session
 * for its inbound messages. Each answer is 0 (allowed) or the seconds to wait.
 */
export class RateLimits {
  readonly counts: RateLimitCounts = { messages: 0, sessions: 0, unknownSid: 0 }
  private readonly perIp: KeyedBuckets | null
  private readonly perPrincipal: KeyedBuckets | null
  private readonly unknownSids: KeyedBuckets | null
  private readonly messages: RateLimitSettings['messages']

  constructor (s: RateLimitSettings) {
    this.perIp = s.sessionsPerIp === false ? null : new KeyedBuckets(s.sessionsPerIp.rate, s.sessionsPerIp.burst)
    this.perPrincipal = s.sessionsPerPrincipal === false ? null : new KeyedBuckets(s.sessionsPerPrincipal.rate, s.sessionsPerPrincipal.burst)
    this.unknownSids = s.unknownSidPerIp === false ? null : new KeyedBuckets(s.unknownSidPerIp.rate, s.unknownSidPerIp.burst)
    this.messages = s.messages
  }

  /** A new session from this IP and principal. */
  session (ip: string | undefined, principal: unknown): number {
    const key = principalKey(principal)
    const wait = Math.max(
      this.perIp === null || ip === undefined ? 0 : this.perIp.take(ip),
      this.perPrincipal === null || key === null ? 0 : this.perPrincipal.take(key))
    if (wait > 0) this.counts.sessions++
    return wait
  }

  /** A request that named an unknown SID. */
  unknownSid (ip: string | undefined): number {
    const wait = this.unknownSids === null || ip === undefined ? 0 : this.unknownSids.take(ip)
    if (wait > 0) this.counts.unknownSid++
    return wait
  }

  /** A bucket for one session's inbound messages; null when unlimited. */
  messageBucket (): TokenBucket | null {
    return this.messages === false ? null : new TokenBucket(this.messages.rate, this.messages.burst)
  }
}
