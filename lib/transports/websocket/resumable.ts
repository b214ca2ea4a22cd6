import { OutboundMessage, type EndReason, type Transport, type TransportSink } from '../transport.js'
import type { WsConnection } from './ws-connection.js'

export interface ResumeOptions {
  /** How long a session whose socket dropped waits for its client to come back (ms). */
  window: number
  /** Bytes of sent messages kept for a replay; a client that missed more gets a fresh session. */
  maxBytes: number
}

/** Server → client, the first frame of a resumable socket: `{ id, resumed }`. Not counted. */
export const HELLO_EVENT = 'webchannel.session'
/** The hello of a server that does not offer resume (`websocket.resume: false`), to a client that asked. */
export const NO_RESUME_HELLO = JSON.stringify({ a: [HELLO_EVENT, { id: null, resumed: false }] })
/** Client → server: every message up to this sequence number arrived; the server may forget them. */
export const ACK_EVENT = 'webchannel.ack'
const ACK_PREFIX = `{"a":["${ACK_EVENT}",`

// Closes after which the client is not expected back: it said goodbye (1000),
// or the connection broke a rule (protocol, size, policy, slow consumer, app codes).
const FINAL_CODES = new Set([1000, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1013])

/**
 * A WebSocket session that survives its socket. Every message sent gets the
 * next sequence number (implicitly: the client counts them, after the hello
 * frame) and is kept until the client acknowledges it, within `maxBytes`.
 * When the socket drops without a goodbye, the session waits `window` ms for
 * the client to come back on a new socket with its last sequence number;
 * what it missed is then sent again, in order, once. Only clients that ask
 * (`?resume=`) get this; plain ws-wrapper clients never see the hello.
 */
export class ResumableTransport implements Transport {
  readonly kind = 'websocket' as const
  private readonly opts: ResumeOptions
  private inner: WsConnection | null
  private sink: TransportSink | null = null
  /** Sequence number of the newest message sent. */
  private seq = 0
  /** Messages not yet acknowledged, oldest first: sequence numbers head+1 … seq. */
  private kept: OutboundMessage[] = []
  private keptFrom = 1
  private keptBytes = 0
  private waiting: NodeJS.Timeout | null = null
  private closing = false
  private done = false

  constructor (first: WsConnection, opts: ResumeOptions) {
    this.inner = first
    this.opts = opts
  }

  /** Bytes sent and not yet acknowledged by the client (kept for a replay). */
  get bufferedAmount (): number { return this.keptBytes }
  /** The socket dropped and the session waits for its client. */
  get detached (): boolean { return this.inner === null && !this.done }

  attach (sink: TransportSink): void {
    this.sink = sink
    if (this.inner !== null) this.bind(this.inner, false, 0)
  }

  /**
   * The client came back on `conn` having received everything up to `after`.
   * false: it cannot be resumed (ended, or it missed more than is kept).
   */
  resume (conn: WsConnection, after: number): boolean {
    if (this.done || this.closing || after > this.seq || after < this.keptFrom - 1) return false
    const old = this.inner
    this.inner = null
    // Its replacement is here: a socket not yet seen dead goes now (its end is ignored).
    old?.terminate('client-close')
    if (this.waiting !== null) clearTimeout(this.waiting)
    this.waiting = null
    this.acknowledge(after)
    this.bind(conn, true, after)
    return true
  }

  send (message: OutboundMessage): boolean {
    if (this.done || this.closing) return false
    this.seq++
    this.kept.push(message)
    this.keptBytes += message.json.length
    while (this.keptBytes > this.opts.maxBytes && this.kept.length > 1) {
      this.keptBytes -= (this.kept.shift() as OutboundMessage).json.length
      this.keptFrom++
    }
    const inner = this.inner
    return inner === null ? true : inner.send(message)
  }

  close (code: number, reason: string, why: EndReason): void {
    if (this.done || this.closing) return
    this.closing = true
    if (this.inner !== null) this.inner.close(code, reason, why)
    else this.finish(why, code, reason)
  }

  abort (why: EndReason): void {
    if (this.inner !== null) this.inner.abort(why)
    else this.finish(why, 1006, '')
  }

  private bind (conn: WsConnection, resumed: boolean, after: number): void {
    const sink = this.sink as TransportSink
    this.inner = conn
    conn.attach({
      id: sink.id,
      receive: (m) => this.receive(m),
      receiveBinary: (data) => sink.receiveBinary?.(data),
      ended: (reason, code, detail) => this.socketEnded(conn, reason, code, detail),
    })
    conn.send(new OutboundMessage(JSON.stringify({ a: [HELLO_EVENT, { id: sink.id, resumed }] })))
    for (let i = after + 1 - this.keptFrom; i < this.kept.length; i++) conn.send(this.kept[i])
  }

  private receive (message: string | Record<string, unknown>): Promise<void> | undefined {
    if (typeof message === 'string' && message.startsWith(ACK_PREFIX)) {
      const n = Number(message.slice(ACK_PREFIX.length, message.indexOf(']', ACK_PREFIX.length)))
      if (Number.isSafeInteger(n)) this.acknowledge(Math.min(n, this.seq))
      return undefined
    }
    return (this.sink as TransportSink).receive(message)
  }

  private acknowledge (upTo: number): void {
    while (this.keptFrom <= upTo && this.kept.length > 0) {
      this.keptBytes -= (this.kept.shift() as OutboundMessage).json.length
      this.keptFrom++
    }
  }

  private socketEnded (conn: WsConnection, reason: EndReason, code: number, detail: string): void {
    if (conn !== this.inner) return
    this.inner = null
    if (this.closing || FINAL_CODES.has(code) || code >= 4000) {
      this.finish(reason, code, detail)
      return
    }
    // Dropped without a goodbye: wait for the client.
    this.waiting = setTimeout(() => this.finish('timeout', 1001, 'Not resumed within ' + this.opts.window + ' ms'), this.opts.window)
  }

  private finish (reason: EndReason, code: number, detail: string): void {
    if (this.done) return
    this.done = true
    if (this.waiting !== null) clearTimeout(this.waiting)
    this.waiting = null
    this.kept = []
    this.keptBytes = 0
    this.sink?.ended(reason, code, detail)
  }
}
