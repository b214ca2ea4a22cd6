import { ClientError, ClientErrorCode, RemoteError } from './errors.js'

export interface Pending {
  readonly id: number
  readonly event: string
  /** The request's envelope text, kept to resend an idempotent request after a reconnect. */
  readonly text: string
  readonly idempotent: boolean
  /** Written to a live link (an answer may come). */
  sent: boolean
}

interface Entry extends Pending {
  resolve (value: unknown): void
  reject (err: Error): void
  timer: ReturnType<typeof setTimeout> | null
  signal: AbortSignal | null
  onAbort: (() => void) | null
}

export interface NewRequest {
  event: string
  /** Builds the envelope once the id is known. */
  encode (id: number): string
  timeout: number
  signal: AbortSignal | undefined
  idempotent: boolean
}

/**
 * Client→server requests waiting for an answer. Ids count up from 1 for the
 * client's lifetime (the server scopes them to a session, so a reconnect may
 * reuse none or all of them). Every way a request ends goes through `settle`.
 */
export class Requests {
  private last = 0
  private readonly table = new Map<number, Entry>()
  /** Told when a request ends before it was written, so the outbox can drop it. */
  private readonly dropped: (id: number) => void

  constructor (dropped: (id: number) => void) {
    this.dropped = dropped
  }

  get size (): number { return this.table.size }

  /** Requests written to a link and not answered yet. */
  get inFlight (): number {
    let n = 0
    for (const e of this.table.values()) if (e.sent) n++
    return n
  }

  create (r: NewRequest): { pending: Pending, promise: Promise<unknown> } {
    const id = ++this.last
    let entry!: Entry
    const promise = new Promise<unknown>((resolve, reject) => {
      entry = { id, event: r.event, text: r.encode(id), idempotent: r.idempotent, sent: false, resolve, reject, timer: null, signal: r.signal ?? null, onAbort: null }
    })
    this.table.set(id, entry)
    if (r.timeout > 0) {
      entry.timer = setTimeout(() => this.fail(id, new ClientError(ClientErrorCode.TIMEOUT, `Request "${r.event}" timed out after ${r.timeout} ms`)), r.timeout)
    }
    const signal = r.signal
    if (signal !== undefined) {
      if (signal.aborted) {
        this.fail(id, aborted(r.event, signal))
      } else {
        entry.onAbort = () => this.fail(id, aborted(r.event, signal))
        signal.addEventListener('abort', entry.onAbort, { once: true })
      }
    }
    return { pending: entry, promise }
  }

  get (id: number): Pending | undefined {
    return this.table.get(id)
  }

  /** An answer from the wire: `{"i","d"}` or `{"i","e"}`. Unknown ids (late answers) are ignored. */
  answer (id: number, ok: boolean, value: unknown): void {
    const e = this.settle(id)
    if (e === undefined) return
    if (ok) e.resolve(value)
    else e.reject(new RemoteError(value))
  }

  fail (id: number, err: Error): void {
    const e = this.settle(id)
    if (e === undefined) return
    if (!e.sent) this.dropped(id)
    e.reject(err)
  }

  /**
   * The link dropped. Requests written to it fail with DISCONNECTED, except
   * idempotent ones, which are returned (marked unsent) to be written again.
   */
  disconnected (): Pending[] {
    const resend: Pending[] = []
    for (const e of [...this.table.values()]) {
      if (!e.sent) continue
      if (e.idempotent) {
        e.sent = false
        resend.push(e)
      } else {
        this.fail(e.id, new ClientError(ClientErrorCode.DISCONNECTED,
          `Connection lost before the answer to "${e.event}" arrived; it may or may not have been handled`))
      }
    }
    return resend
  }

  failAll (make: (event: string) => Error): void {
    for (const e of [...this.table.values()]) this.fail(e.id, make(e.event))
  }

  private settle (id: number): Entry | undefined {
    const e = this.table.get(id)
    if (e === undefined) return undefined
    this.table.delete(id)
    if (e.timer !== null) clearTimeout(e.timer)
    if (e.signal !== null && e.onAbort !== null) e.signal.removeEventListener('abort', e.onAbort)
    return e
  }
}

function aborted (event: string, signal: AbortSignal): ClientError {
  return new ClientError(ClientErrorCode.ABORTED, `Request "${event}" was aborted`, { cause: signal.reason })
}
