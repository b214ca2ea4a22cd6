import { CloseCode } from '../errors.js'
import type { Session } from '../session/session.js'

/** The longest delay setTimeout takes; later deadlines are reached in steps. */
const MAX_DELAY = 2 ** 31 - 1

export interface ExpiryOptions {
  /** Asked every `reauthenticateInterval` ms for every session; false (or a throw) ends it. null: not asked. */
  reauthenticate: ((session: Session) => boolean | Promise<boolean>) | null
  reauthenticateInterval: number
}

/**
 * Sessions whose credentials run out: a principal with `expiresAt` (ms since
 * the epoch, or a Date) is ended at that moment, and the app's
 * `reauthenticate` hook is asked on one shared timer. An expired session is
 * closed with 1008 on WebSocket and `stop` on WebChannel; its pending
 * requests fail.
 */
export class Expiry {
  private readonly timers = new Map<Session, NodeJS.Timeout>()
  private readonly options: ExpiryOptions
  private sweepTimer: NodeJS.Timeout | null = null
  private readonly live: () => Iterable<Session>

  constructor (options: ExpiryOptions, live: () => Iterable<Session>) {
    this.options = options
    this.live = live
  }

  /** A session opened: arm its deadline, and the shared sweep. */
  watch (session: Session): void {
    const at = expiresAt(session.principal)
    if (at !== null) this.arm(session, at)
    if (this.options.reauthenticate !== null && this.sweepTimer === null) {
      this.sweepTimer = setInterval(() => this.sweep(), this.options.reauthenticateInterval)
      this.sweepTimer.unref()
    }
  }

  forget (session: Session): void {
    const t = this.timers.get(session)
    if (t !== undefined) {
      clearTimeout(t)
      this.timers.delete(session)
    }
  }

  stop (): void {
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer)
    this.sweepTimer = null
  }

  private arm (session: Session, at: number): void {
    const delay = at - Date.now()
    if (delay <= 0) {
      queueMicrotask(() => expire(session))
      return
    }
    const t = setTimeout(() => {
      this.timers.delete(session)
      if (at - Date.now() > 0) this.arm(session, at)
      else expire(session)
    }, Math.min(delay, MAX_DELAY))
    t.unref()
    this.timers.set(session, t)
  }

  private sweep (): void {
    const check = this.options.reauthenticate
    if (check === null) return
    for (const session of this.live()) {
      let verdict: boolean | Promise<boolean>
      try {
        verdict = check(session)
      } catch (err) {
        session.log.warn({ err }, 'webchannel: reauthenticate threw; ending the session')
        expire(session)
        continue
      }
      if (verdict === true) continue
      if (verdict === false) {
        expire(session)
        continue
      }
      Promise.resolve(verdict).then(ok => { if (ok !== true) expire(session) }, (err: unknown) => {
        session.log.warn({ err }, 'webchannel: reauthenticate threw; ending the session')
        expire(session)
      })
    }
  }
}

function expire (session: Session): void {
  if (session.closed) return
  session.log.info('webchannel: authentication expired')
  session.transport.close(CloseCode.POLICY_VIOLATION, 'Authentication expired', 'expired')
}

/** The principal's `expiresAt`, in ms since the epoch; null when it has none. */
function expiresAt (principal: unknown): number | null {
  if (typeof principal !== 'object' || principal === null || !('expiresAt' in principal)) return null
  const v = principal.expiresAt
  if (v instanceof Date) return v.getTime()
  return typeof v === 'number' && Number.isFinite(v) ? v : null
}
