/** Reconnect delays: exponential, capped, with random jitter so a fleet of clients does not reconnect in step. */
export interface BackoffOptions {
  /** First delay in ms. Default 500. */
  initialDelay?: number
  /** Largest delay in ms. Default 10000. */
  maxDelay?: number
  /** Growth per attempt. Default 2. */
  factor?: number
  /** Fraction of the delay that is randomised (0..1): the delay is drawn from [d·(1-jitter), d]. Default 0.5. */
  jitter?: number
  /** Give up (close) after this many failed attempts in a row. Default Infinity. */
  maxAttempts?: number
}

export type ResolvedBackoff = Required<BackoffOptions>

export const backoffDefaults: ResolvedBackoff = {
  initialDelay: 500,
  maxDelay: 10_000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
}

/** Delay before attempt `attempt` (1-based). `random` is injectable for tests. */
export function backoffDelay (o: ResolvedBackoff, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(o.maxDelay, o.initialDelay * Math.pow(o.factor, Math.max(0, attempt - 1)))
  const j = Math.min(1, Math.max(0, o.jitter))
  return Math.round(base * (1 - j * random()))
}
