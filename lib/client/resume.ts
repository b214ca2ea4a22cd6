// WebSocket resume, the client's half. The server opens a resumable socket
// with a hello frame naming the session; the client counts every message after
// it and acknowledges the count now and then, so the server can forget what
// arrived; the server does the same for the client's messages. After a drop
// the client reconnects with `?resume=<id>&seq=<count>`: the server sends what
// it missed, and its hello says how many of the client's messages arrived, so
// the client sends the rest again. When it cannot resume, the hello is a fresh
// session's.

const HELLO_PREFIX = '{"a":["webchannel.session",'
const ACK_PREFIX = '{"a":["webchannel.ack",'
/** Sent messages kept for a resend, at most (older ones are forgotten: a resume then misses them). */
const MAX_UNACKED = 10_000
const ACK_EVERY = 32
const ACK_AFTER_MS = 250

/** id null: the server does not offer resume. `received`: how many of the client's messages arrived. */
export interface Hello { id: string | null, resumed: boolean, received: number }

/** The hello frame's content, or null for any other frame. */
export function parseHello (text: string): Hello | null {
  if (!text.startsWith(HELLO_PREFIX)) return null
  try {
    const info = (JSON.parse(text) as { a: [string, Hello] }).a[1]
    if (typeof info?.id === 'string' || info?.id === null) {
      return { id: info.id, resumed: info.resumed === true, received: Number.isSafeInteger(info.received) ? info.received : 0 }
    }
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
  /** Messages sent on the session and not yet acknowledged by the server; the first is number sentBase + 1. */
  private unacked: string[] = []
  private sentBase = 0

  /** Query parameters for the next WebSocket: ask for a resumable session, or to resume this one. */
  params (): Record<string, string> {
    return this.id === null ? { resume: '1' } : { resume: this.id, seq: String(this.received) }
  }

  /**
   * A hello arrived; true when it resumed the session the client asked for.
   * `resend` then gets, in order, what the client sent that never arrived.
   */
  hello (h: Hello, resend: (text: string) => void): boolean {
    if (h.resumed && h.id !== null && h.id === this.id) {
      this.acked = this.received
      this.serverAcked(h.received)
      const missing = this.unacked
      this.unacked = []
      for (const text of missing) resend(text)
      return true
    }
    this.id = h.id
    this.received = 0
    this.acked = 0
    this.unacked = []
    this.sentBase = 0
    return false
  }

  /** A message the client sends on the resumable session (kept until the server acknowledges it). */
  sent (text: string): void {
    if (this.id === null || text.startsWith(ACK_PREFIX)) return
    this.unacked.push(text)
    if (this.unacked.length > MAX_UNACKED) {
      this.unacked.shift()
      this.sentBase++
    }
  }

  /** An acknowledgement from the server (true), or any other frame (false). */
  ackFrame (text: string): boolean {
    if (!text.startsWith(ACK_PREFIX)) return false
    const n = Number(text.slice(ACK_PREFIX.length, text.indexOf(']', ACK_PREFIX.length)))
    if (Number.isSafeInteger(n)) this.serverAcked(n)
    return true
  }

  private serverAcked (n: number): void {
    const drop = Math.min(Math.max(0, n - this.sentBase), this.unacked.length)
    if (drop > 0) this.unacked.splice(0, drop)
    this.sentBase += drop
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
    this.unacked = []
    this.sentBase = 0
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
