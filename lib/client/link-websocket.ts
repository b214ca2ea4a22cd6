import { isRefusal, type Link, type LinkHandlers } from './link.js'
import { probeRefusal } from './probe.js'
import { parseHello, type Hello } from './resume.js'
import type { WebSocketConstructor } from './types.js'

/** The part of the WHATWG WebSocket the client uses (the browser's and the `ws` package's both have it). */
interface SocketLike {
  send (data: string): void
  close (code?: number, reason?: string): void
  onopen: (() => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onerror: ((ev: { message?: unknown }) => void) | null
  onclose: ((ev: { code: number, reason: string }) => void) | null
}

/**
 * A WebSocket link. A refused upgrade (401/403 from the app's hooks) is
 * reported with its status: the `ws` package names it in the error event; a
 * browser hides it, so the upgrade URL is then probed with a plain GET, which
 * runs through the same hooks (see probe.ts).
 */
export function openWebSocket (url: string, Ctor: WebSocketConstructor, h: LinkHandlers, onHello?: (hello: Hello) => void): Link {
  let done = false
  let opened = false
  const gate = onHello === undefined ? null : new HelloGate(onHello, h)
  let status = 0
  const finish = (code: number, reason: string, refused?: number) => {
    if (done) return
    done = true
    ws.onopen = ws.onmessage = ws.onclose = null
    gate?.cancel()
    h.onClose(code, reason, refused)
  }
  const failed = (code: number, reason: string) => {
    if (done) return
    if (opened || code !== 1006) {
      finish(code, reason)
      return
    }
    if (status !== 0) {
      finish(code, reason === '' ? `HTTP ${status}` : reason, isRefusal(status) ? status : undefined)
      return
    }
    // Never opened and no status known: ask the server why, unless closed meanwhile.
    probeRefusal(url).then(s => finish(code, s === null ? reason : `HTTP ${s}`, s ?? undefined), () => finish(code, reason))
  }
  let ws: SocketLike
  try {
    ws = new Ctor(url) as SocketLike
  } catch (err) {
    // A malformed URL throws synchronously; report it like any failed attempt.
    queueMicrotask(() => h.onClose(1006, err instanceof Error ? err.message : 'WebSocket failed'))
    return { kind: 'websocket', send () {}, close () {} }
  }
  ws.onopen = () => {
    if (done) return
    opened = true
    if (gate === null) h.onOpen()
    else gate.socketOpen()
  }
  ws.onmessage = (ev) => {
    if (done || typeof ev.data !== 'string') return
    if (gate === null || gate.pass(ev.data)) h.onMessage(ev.data)
  }
  // Browsers give no detail; the `ws` package says "Unexpected server response: 401".
  ws.onerror = (ev) => {
    const m = typeof ev?.message === 'string' ? /Unexpected server response: (\d{3})/.exec(ev.message) : null
    if (m !== null) status = Number(m[1])
  }
  ws.onclose = (ev) => failed(ev.code, ev.reason)
  return {
    kind: 'websocket',
    send (text) { if (!done) ws.send(text) },
    close (code = 1000, reason = '') {
      if (done) return
      try {
        ws.close(code, reason)
      } catch {
        ws.close()
      }
      finish(code, reason)
    },
  }
}

/** How long an open socket waits for the hello before it counts as open anyway (a server that sends none). */
const HELLO_WAIT_MS = 1000

/**
 * A resumable socket is open once its hello frame arrived. A server without
 * resume support sends none: the socket then opens with its first frame (an
 * ordinary message) or after HELLO_WAIT_MS, whichever comes first.
 */
class HelloGate {
  private waiting = true
  private timer: ReturnType<typeof setTimeout> | null = null
  private readonly onHello: (hello: Hello) => void
  private readonly h: LinkHandlers

  constructor (onHello: (hello: Hello) => void, h: LinkHandlers) {
    this.onHello = onHello
    this.h = h
  }

  socketOpen (): void {
    this.timer = setTimeout(() => this.open(), HELLO_WAIT_MS)
  }

  /** false: the frame was the hello, not a message. */
  pass (text: string): boolean {
    if (!this.waiting) return true
    const hello = parseHello(text)
    if (hello !== null) this.onHello(hello)
    this.open()
    return hello === null
  }

  cancel (): void {
    this.waiting = false
    if (this.timer !== null) clearTimeout(this.timer)
  }

  private open (): void {
    if (!this.waiting) return
    this.cancel()
    this.h.onOpen()
  }
}
