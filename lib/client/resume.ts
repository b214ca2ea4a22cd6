// WebSocket resume, the client's half. The server opens a resumable socket
// with a hello frame naming the session; the client counts every message after
// it and acknowledges the count now and then, so the server can forget what
// arrived. After a drop it reconnects with `?resume=<id>&seq=<count>` and the
// server sends what it missed, or, when it cannot, a fresh session's hello.

const HELLO_PREFIX = '{"a":["webchannel.session",'
const ACK_EVERY = 32
const ACK_AFTER_MS = 250

/** id null: the server does not offer resume. */
export interface Hello { id: string | null, resumed: boolean }

/** The hello frame's content, or null for any other frame. */
export function parseHello (text: string): Hello | null {
  if (!text.startsWith(HELLO_PREFIX)) return null
  try {
    const info = (JSON.parse(text) as { a: [string, Hello] }).a[1]
    if (typeof info?.id === 'string' || info?.id === null) return { id: info.id, resumed: info.resumed === true }
    return null
  } catch {
    return null
  }
}

export class ResumeState {
  /** The resumable session, once a hello named it. */
  private id: string | null = null
  private received = 0
  private acked = 0
  private timer: ReturnType<typeof setTimeout> | null = null

  /** Query parameters for the next WebSocket: ask for a resumable session, or to resume this one. */
  params (): Record<string, string> {
    return this.id === null ? { resume: '1' } : { resume: this.id, seq: String(this.received) }
  }

  /** A hello arrived; true when it resumed the session the client asked for. */
  hello (h: Hello): boolean {
    if (h.resumed && h.id !== null && h.id === this.id) {
      this.acked = this.received
      return true
    }
    this.id = h.id
    this.received = 0
    this.acked = 0
    return false
  }

  /** One message of the resumable session arrived; `send` writes an acknowledgement when one is due. */
  counted (send: (text: string) => void): void {
    if (this.id === null) return
    this.received++
    if (this.received - this.acked >= ACK_EVERY) {
      this.ack(send)
    } else if (this.timer === null) {
      this.timer = setTimeout(() => { this.timer = null; this.ack(send) }, ACK_AFTER_MS)
      ;(this.timer as { unref?: () => void }).unref?.()
    }
  }

  /** The session is not resumable any more (another transport, or closed for good). */
  forget (): void {
    this.stop()
    this.id = null
  }

  stop (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private ack (send: (text: string) => void): void {
    if (this.received === this.acked) return
    this.acked = this.received
    send(`{"a":["webchannel.ack",${this.received}]}`)
  }
}
