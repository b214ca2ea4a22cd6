import type { EndReason, Session } from '../../lib/index.js'

export interface EndRecord { session: Session, reason: EndReason, code: number, detail: string }

/** Collects session ends, and lets a test await the nth one. */
export class EndLog {
  readonly ends: EndRecord[] = []
  private waiters: Array<{ n: number, resolve: () => void }> = []

  readonly hook = (session: Session, reason: EndReason, code: number, detail: string): void => {
    this.ends.push({ session, reason, code, detail })
    this.waiters = this.waiters.filter(w => {
      if (this.ends.length >= w.n) { w.resolve(); return false }
      return true
    })
  }

  /** Resolves once at least n sessions have ended. */
  async count (n: number): Promise<EndRecord[]> {
    if (this.ends.length < n) await new Promise<void>(resolve => this.waiters.push({ n, resolve }))
    return this.ends
  }
}

/** Resolves with each opened session, in order. */
export class OpenLog {
  readonly sessions: Session[] = []
  private waiters: Array<{ n: number, resolve: () => void }> = []

  readonly hook = (session: Session): void => {
    this.sessions.push(session)
    this.waiters = this.waiters.filter(w => {
      if (this.sessions.length >= w.n) { w.resolve(); return false }
      return true
    })
  }

  async nth (n: number): Promise<Session> {
    if (this.sessions.length < n) await new Promise<void>(resolve => this.waiters.push({ n, resolve }))
    return this.sessions[n - 1]
  }
}
