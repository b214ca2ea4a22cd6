import type { SessionStore, StoredSession } from '../../store/session-store.js'
import { OutboundMessage, type EndReason, type Transport, type TransportSink } from '../transport.js'
import type { WsConnection } from './ws-connection.js'

export interface ResumeOptions {
  /** How long a session whose socket dropped waits for its client to come back (ms). */
  window: number
  /** Bytes of sent messages kept for a replay; a client that missed more gets a fresh session. */
  maxBytes: number
}

/** A shared session store, so that the session can be resumed at another instance. */
export interface ResumeStore {
  store: SessionStore
  principal: unknown
  principalKey: string
}

/** Server → client, the first frame of a resumable socket: `{ id, resumed }`. Not counted. */
export const HELLO_EVENT = 'webchannel.session'
/** The hello of a server that does not offer resume (`websocket.resume: false`), to a client that asked. */
export const NO_RESUME_HELLO = JSON.stringify({ a: [HELLO_EVENT, { id: null, resumed: false }] })
/**
 * Both ways: every message up to this count arrived; the sender may forget
 * them. Never counted itself.
 */
export const ACK_EVENT = 'webchannel.ack'
const ACK_PREFIX = `{"a":["${ACK_EVENT}",`
const ACK_EVERY = 32
const ACK_AFTER_MS = 250

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
  private readonly persist: ResumeStore | null
  /** Continued from the store: attach() resumes after this sequence number. */
  private resumeAfter: number | null = null
  /** Messages received from the client (acknowledgements aside), and how many of them we acknowledged. */
  private received = 0
  private ackedIn = 0
  private ackTimer: NodeJS.Timeout | null = null

  constructor (first: WsConnection, opts: ResumeOptions, persist: ResumeStore | null = null) {
    this.inner = first
    this.opts = opts
    this.persist = persist
  }

  /**
   * A session another instance served, continued from the store on `conn`
   * for a client that has everything up to `after`; null if what it missed
   * is no longer kept.
   */
  static continue (conn: WsConnection, opts: ResumeOptions, persist: ResumeStore, stored: StoredSession, after: number): ResumableTransport | null {
    const last = stored.arrays.length > 0 ? stored.arrays[stored.arrays.length - 1].id : stored.acked
    if (after > last || after < stored.acked) return null
    const t = new ResumableTransport(conn, opts, persist)
    t.seq = last
    t.keptFrom = stored.acked + 1
    for (const a of stored.arrays) {
      t.kept.push(new OutboundMessage(a.payload))
      t.keptBytes += a.payload.length
    }
    t.resumeAfter = after
    t.received = t.ackedIn = stored.delivered
    return t
  }

  /** Bytes sent and not yet acknowledged by the client (kept for a replay). */
  get bufferedAmount (): number { return this.keptBytes }
  /** The socket dropped and the session waits for its client. */
  get detached (): boolean { return this.inner === null && !this.done }

  attach (sink: TransportSink): void {
    this.sink = sink
    const p = this.persist
    if (p !== null && this.resumeAfter === null) p.store.create(sink.id, p.principal, p.principalKey, 0)
    if (this.inner !== null) this.bind(this.inner, this.resumeAfter !== null, this.resumeAfter ?? 0)
    this.resumeAfter = null
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
    // Binary frames are neither counted nor kept (the client counts text messages).
    if (message.binary !== null) return this.inner?.send(message) ?? false
    this.seq++
    this.kept.push(message)
    this.keptBytes += message.json.length
    if (this.persist !== null && this.sink !== null) this.persist.store.append(this.sink.id, this.seq, message.json)
    if (this.keptBytes > this.opts.maxBytes && this.kept.length > 1) {
      while (this.keptBytes > this.opts.maxBytes && this.kept.length > 1) {
        this.keptBytes -= (this.kept.shift() as OutboundMessage).json.length
        this.keptFrom++
      }
      this.stored(this.keptFrom - 1)
    }
    const inner = this.inner
    return inner === null ? true : inner.send(message)
  }

  /**
   * With a store, app.close() hands the session on: it is released, and the
   * socket closed with 1012 (service restart), so the client resumes it at
   * another instance.
   */
  close (code: number, reason: string, why: EndReason): void {
    if (this.done || this.closing) return
    this.closing = true
    if (why === 'shutdown' && this.persist !== null && this.sink !== null) {
      this.persist.store.release([this.sink.id]).catch(() => {})
      code = 1012
      reason = 'Service restart'
      why = 'moved'
    }
    if (this.inner !== null) this.inner.close(code, reason, why)
    else this.finish(why, code, reason)
  }

  /**
   * Another instance asks for the session (its client came back there):
   * released in the store before this resolves, then closed here as moved.
   */
  async handOff (): Promise<void> {
    if (this.persist === null || this.sink === null || this.done || this.closing) return
    await this.persist.store.release([this.sink.id])
    this.closing = true
    if (this.inner !== null) this.inner.close(1012, 'Service restart', 'moved')
    else this.finish('moved', 1012, 'Session moved to another instance')
  }

  membership (channel: string, joined: boolean): void {
    if (this.persist === null || this.sink === null || this.done || this.closing) return
    if (joined) this.persist.store.join(this.sink.id, channel)
    else this.persist.store.leave(this.sink.id, channel)
  }

  abort (why: EndReason): void {
    if (this.inner !== null) this.inner.abort(why)
    else this.finish(why, 1006, '')
  }

  private bind (conn: WsConnection, resumed: boolean, after: number): void {
    const sink = this.sink as TransportSink
    this.inner = conn
    // The hello tells the client how many of its messages arrived.
    this.ackedIn = this.received
    conn.attach({
      id: sink.id,
      receive: (m) => this.receive(m),
      receiveBinary: (data) => sink.receiveBinary?.(data),
      ended: (reason, code, detail) => this.socketEnded(conn, reason, code, detail),
    })
    // `received`: the client resends what it sent after that, which never arrived.
    conn.send(new OutboundMessage(JSON.stringify({ a: [HELLO_EVENT, { id: sink.id, resumed, received: this.received }] })))
    for (let i = after + 1 - this.keptFrom; i < this.kept.length; i++) conn.send(this.kept[i])
  }

  private receive (message: string | Record<string, unknown>): Promise<void> | undefined {
    if (typeof message === 'string' && message.startsWith(ACK_PREFIX)) {
      const n = Number(message.slice(ACK_PREFIX.length, message.indexOf(']', ACK_PREFIX.length)))
      if (Number.isSafeInteger(n)) this.acknowledge(Math.min(n, this.seq))
      return undefined
    }
    const r = (this.sink as TransportSink).receive(message)
    // Counted (and stored) after the app took it: what it sent in reply is stored first, so a
    // successor never has the message counted without its consequences.
    if (typeof message === 'string') this.counted()
    return r
  }

  /** One more message from the client: stored, and acknowledged now and then. */
  private counted (): void {
    this.received++
    if (this.persist !== null && this.sink !== null) this.persist.store.delivered(this.sink.id, this.received).catch(() => {})
    if (this.received - this.ackedIn >= ACK_EVERY) this.ackIn()
    else if (this.ackTimer === null) this.ackTimer = setTimeout(() => this.ackIn(), ACK_AFTER_MS)
  }

  private ackIn (): void {
    if (this.ackTimer !== null) clearTimeout(this.ackTimer)
    this.ackTimer = null
    if (this.inner === null || this.received === this.ackedIn) return
    this.ackedIn = this.received
    // Straight to the socket: an acknowledgement is not a counted message.
    this.inner.send(new OutboundMessage(`{"a":["${ACK_EVENT}",${this.received}]}`))
  }

  private acknowledge (upTo: number): void {
    if (this.keptFrom > upTo) return
    while (this.keptFrom <= upTo && this.kept.length > 0) {
      this.keptBytes -= (this.kept.shift() as OutboundMessage).json.length
      this.keptFrom++
    }
    this.stored(upTo)
  }

  /** The store may forget every message up to `upTo`. */
  private stored (upTo: number): void {
    if (this.persist !== null && this.sink !== null) this.persist.store.ack(this.sink.id, upTo)
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
    if (this.ackTimer !== null) clearTimeout(this.ackTimer)
    this.ackTimer = null
    this.kept = []
    this.keptBytes = 0
    if (this.persist !== null && this.sink !== null && reason !== 'moved') this.persist.store.remove(this.sink.id)
    this.sink?.ended(reason, code, detail)
  }
}
