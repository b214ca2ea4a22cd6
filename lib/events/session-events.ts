import { encodeRequest } from '../codecs/envelope.js'
import { FST_WEBCHANNEL_REQUEST_TIMEOUT, FST_WEBCHANNEL_SESSION_CLOSED } from '../errors.js'
import type { Session, SessionHandler } from '../session/session.js'
import { OutboundMessage } from '../transports/transport.js'

/** A session's handlers for one event: a one-time handler runs before the standing one. */
interface LocalHandlers { once: SessionHandler | null, on: SessionHandler | null }

interface PendingRequest {
  resolve: (v: unknown) => void
  reject: (e: unknown) => void
  timer: NodeJS.Timeout | null
}

/** Fields of a client's error reply that become the Error's own; the rest go under `details`. */
const KNOWN_ERROR_FIELDS = new Set(['message', 'code', 'name', 'stack'])
/** Keys dropped outright: an app that spreads `details` into an object would have its prototype replaced. */
const POISONED_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * The event layer's state for one session: the handlers it registered for
 * itself, the requests it sent to its client and awaits, and the ids of the
 * client's requests being handled now. Allocated on first use: most sessions
 * never need one.
 */
export class SessionEvents {
  private handlers: Map<string, LocalHandlers> | null = null
  private pending: Map<number, PendingRequest> | null = null
  private lastRequestId = 0
  /** Ids of this client's requests whose handlers are running. */
  private running: Set<number> | null = null

  // ---- the session's own handlers ----------------------------------------

  add (channel: string | null, event: string, fn: SessionHandler, once: boolean): void {
    const key = handlerKey(channel, event)
    if (this.handlers === null) this.handlers = new Map()
    let h = this.handlers.get(key)
    if (h === undefined) {
      h = { once: null, on: null }
      this.handlers.set(key, h)
    }
    if (once) h.once = fn
    else h.on = fn
  }

  remove (channel: string | null, event: string): void {
    this.handlers?.delete(handlerKey(channel, event))
  }

  /** The session's own handler for an event, consumed if it was added with once(). */
  take (channel: string | null, event: string): SessionHandler | undefined {
    if (this.handlers === null) return undefined
    const key = handlerKey(channel, event)
    const h = this.handlers.get(key)
    if (h === undefined) return undefined
    const once = h.once
    if (once === null) return h.on ?? undefined
    h.once = null
    if (h.on === null) this.handlers.delete(key)
    return once
  }

  // ---- the client's requests in flight -------------------------------------

  get inflight (): number { return this.running?.size ?? 0 }

  isRunning (id: number): boolean {
    return this.running?.has(id) ?? false
  }

  /** Mark a client request as running (its handler answers later). */
  start (id: number): void {
    if (this.running === null) this.running = new Set()
    this.running.add(id)
  }

  finish (id: number): void {
    this.running?.delete(id)
  }

  // ---- requests to the client --------------------------------------------

  request (session: Session, channel: string | null, event: string, args: unknown[], timeout: number): Promise<unknown> {
    if (session.closed) return Promise.reject(new FST_WEBCHANNEL_SESSION_CLOSED(session.id))
    const id = ++this.lastRequestId
    return new Promise((resolve, reject) => {
      const entry: PendingRequest = { resolve, reject, timer: null }
      if (timeout > 0) {
        entry.timer = setTimeout(() => {
          this.pending?.delete(id)
          reject(new FST_WEBCHANNEL_REQUEST_TIMEOUT(event))
        }, timeout)
      }
      if (this.pending === null) this.pending = new Map()
      this.pending.set(id, entry)
      if (!session.send(new OutboundMessage(encodeRequest(channel, event, args, id)))) {
        this.settle(id)
        reject(new FST_WEBCHANNEL_SESSION_CLOSED(session.id))
      }
    })
  }

  /** The client answered request `id`; unknown ids are ignored. */
  resolve (id: number, data: unknown): void {
    const p = this.settle(id)
    p?.resolve(data)
  }

  /**
   * The client refused request `id`. The rejection is always a real Error:
   * known fields are copied by name, everything else goes under `details`,
   * except `__proto__`, `constructor` and `prototype`, which are dropped.
   */
  reject (id: number, error: unknown): void {
    const p = this.settle(id)
    if (p === undefined) return
    p.reject(clientError(error))
  }

  /** The session ended: every request still waiting fails. */
  end (sessionId: string): void {
    this.handlers = null
    this.running = null
    if (this.pending === null) return
    for (const id of [...this.pending.keys()]) this.settle(id)?.reject(new FST_WEBCHANNEL_SESSION_CLOSED(sessionId))
  }

  private settle (id: number): PendingRequest | undefined {
    const p = this.pending?.get(id)
    if (p === undefined) return undefined
    if (p.timer !== null) clearTimeout(p.timer)
    this.pending!.delete(id)
    return p
  }
}

/** A client's error reply as an Error: `message` and `code` copied, the rest under `details`. */
export function clientError (e: unknown): Error & { code?: string, details?: Record<string, unknown> } {
  if (typeof e !== 'object' || e === null) return new Error(String(e))
  const fields = e as Record<string, unknown>
  const err: Error & { code?: string, details?: Record<string, unknown> } =
    new Error(typeof fields.message === 'string' ? fields.message : 'Request failed')
  if (typeof fields.code === 'string') err.code = fields.code
  let details: Record<string, unknown> | null = null
  for (const key of Object.keys(fields)) {
    if (KNOWN_ERROR_FIELDS.has(key) || POISONED_KEYS.has(key)) continue
    details ??= {}
    Object.defineProperty(details, key, { value: fields[key], enumerable: true, writable: true, configurable: true })
  }
  if (details !== null) err.details = details
  return err
}

function handlerKey (channel: string | null, event: string): string {
  return channel === null ? event : channel + '\u0000' + event
}
