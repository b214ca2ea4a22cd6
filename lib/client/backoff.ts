/** Reconnect delays: exponential, capped, with random jitter so a fleet of clients does not reconnect in step. */
export interface BackoffOptions {
  /** First delay in ms. Default 500. */
  initialDelay?: number
  /** Largest delay in ms. Default 10000. */
  maxDelay?: number
  /** Growth per attempt. Default 2. */
  factor?: number
  /**
   * Fraction of the delay that is randomised (0..1): the delay is drawn from
   * [d·(1-jitter), d]. Default 1 ("full jitter": anywhere in [0, d]), which
   * spreads a fleet of clients that lost the same server the most.
   */
  jitter?: number
  /** Give up (close) after this many failed attempts in a row. Default Infinity. */
  maxAttempts?: number
  /**
   * How long (ms) a connection must stay open before the attempt count starts
   * again from 1. A session that drops sooner keeps the backoff growing, so a
   * server that accepts and then drops every connection is not hammered. Default 10000.
   */
  resetAfter?: number
}

export type ResolvedBackoff = Required<BackoffOptions>

export const backoffDefaults: ResolvedBackoff = {
  initialDelay: 500,
  maxDelay: 10_000,
  factor: 2,
  jitter: 1,
  maxAttempts: Infinity,
  resetAfter: 10_000,
}

/** Delay before attempt `attempt` (1-based). `random` is injectable for tests. */
export function backoffDelay (o: ResolvedBackoff, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(o.maxDelay, o.initialDelay * Math.pow(o.factor, Math.max(0, attempt - 1)))
  const j = Math.min(1, Math.max(0, o.jitter))
  return Math.round(base * (1 - j * random()))
}
