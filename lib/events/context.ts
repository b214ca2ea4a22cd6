import type { FastifyBaseLogger } from 'fastify'
import type { Principal } from '../session/principal.js'
import type { Session } from '../session/session.js'

/** What a handler gets besides its arguments. */
export class EventContext {
  readonly session: Session
  /** The channel the event arrived on; null for the main channel. */
  readonly channel: string | null
  readonly event: string
  /** The request id, or null for a plain event. */
  readonly requestId: number | null
  private controller: AbortController | null = null
  private detach: (() => void) | null = null
  private readonly timeoutMs: number

  constructor (session: Session, channel: string | null, event: string, requestId: number | null, timeoutMs: number) {
    this.session = session
    this.channel = channel
    this.event = event
    this.requestId = requestId
    this.timeoutMs = timeoutMs
  }

  /** The principal that opened the session. */
  get principal (): Principal | null { return this.session.principal }
  get log (): FastifyBaseLogger { return this.session.log }

  /**
   * Aborted when the handler times out (`handlerTimeout`) or the session ends.
   * Created on first use, so handlers that never look pay nothing.
   */
  get signal (): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController()
      const sessionSignal = this.session.signal
      if (sessionSignal.aborted) this.controller.abort(sessionSignal.reason)
      else {
        const onEnd = () => this.controller?.abort(sessionSignal.reason)
        sessionSignal.addEventListener('abort', onEnd, { once: true })
        this.detach = () => sessionSignal.removeEventListener('abort', onEnd)
      }
    }
    return this.controller.signal
  }

  /** @internal called by the router when the handler timed out or finished. */
  finish (reason?: unknown): void {
    if (this.detach !== null) {
      this.detach()
      this.detach = null
    }
    if (reason !== undefined && this.controller !== null && !this.controller.signal.aborted) this.controller.abort(reason)
  }

  /** @internal */
  get timeout (): number { return this.timeoutMs }
}
