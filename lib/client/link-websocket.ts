import type { Link, LinkHandlers } from './link.js'
import type { WebSocketConstructor } from './types.js'

/** The part of the WHATWG WebSocket the client uses (the browser's and the `ws` package's both have it). */
interface SocketLike {
  send (data: string): void
  close (code?: number, reason?: string): void
  onopen: (() => void) | null
  onmessage: ((ev: { data: unknown }) => void) | null
  onerror: (() => void) | null
  onclose: ((ev: { code: number, reason: string }) => void) | null
}

export function openWebSocket (url: string, Ctor: WebSocketConstructor, h: LinkHandlers): Link {
  let done = false
  const finish = (code: number, reason: string) => {
    if (done) return
    done = true
    ws.onopen = ws.onmessage = ws.onclose = null
    h.onClose(code, reason)
  }
  let ws: SocketLike
  try {
    ws = new Ctor(url) as SocketLike
  } catch (err) {
    // A malformed URL throws synchronously; report it like any failed attempt.
    queueMicrotask(() => h.onClose(1006, err instanceof Error ? err.message : 'WebSocket failed'))
    return { kind: 'websocket', send () {}, close () {} }
  }
  ws.onopen = () => { if (!done) h.onOpen() }
  ws.onmessage = (ev) => { if (!done && typeof ev.data === 'string') h.onMessage(ev.data) }
  // Errors carry no detail in browsers; the close event that follows has the code.
  ws.onerror = () => {}
  ws.onclose = (ev) => finish(ev.code, ev.reason)
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
