import type { ServerResponse } from 'node:http'
import type { FastifyBaseLogger } from 'fastify'
import { escapeLineSeparators, toPayload, type WireArray } from '../../codecs/webchannel-framing.js'
import type { ForwardMap } from '../../codecs/webchannel-maps.js'
import { CloseCode } from '../../errors.js'
import type { SessionStore, StoredSession } from '../../store/session-store.js'
import type { EndReason, OutboundMessage, Transport, TransportSink } from '../transport.js'
import { holdForThisTurn, spend } from '../turn-batch.js'
import { ArrayQueue } from './array-queue.js'
import { BackChannel } from './back-channel.js'
import { ForwardChannel, type ForwardOutcome } from './forward-channel.js'

/** The `webchannel.*` options a connection uses (documented with the plugin's options). */
export interface ConnectionOptions {
  keepaliveInterval: number
  backChannelMaxAge: number
  longPollTimeout: number
  sessionTimeout: number
  maxPendingMessages: number
  maxPendingBytes: number
}

/**
 * - `handshaking`: the session exists; the handshake reply (which carries `c`
 *   and whatever was queued meanwhile) is not written yet.
 * - `open`: the normal state; a back channel may or may not be attached.
 * - `closing`: the session has ended and a `close`/`stop` array waits for a
 *   back channel to carry it (bounded by `sessionTimeout`).
 * - `closed`: everything freed.
 */
export type ConnectionState = 'handshaking' | 'open' | 'closing' | 'closed'

const NOOP = '["noop"]'
const STOP = '["stop"]'
const CLOSE = '["close"]'

// A message fanned out to many sessions is encoded once.
function payloadOf (message: OutboundMessage): string {
  let p = message.wcPayload
  if (p === null) {
    // Envelopes we serialised are JSON already: only raw app text needs toPayload's JSON.parse check.
    p = message.raw ? toPayload(message.json) : escapeLineSeparators(message.json)
    message.wcPayload = p
  }
  return p
}

export interface BackChannelRequest {
  res: ServerResponse
  streaming: boolean
  gzip: boolean
  /** The client's AID; null: resend everything unacknowledged. */
  aid: number | null
  /** The client's TO (longest hold it wants), ms. */
  timeout: number | null
  headers: Readonly<Record<string, string>>
  /** Long poll: hand its body to the caller instead of writing it (BackChannelInit.send). */
  send?: (body: string) => void
}

/** The forward POST reply: [backChannelPresent, lastArrayIdSent, unackedBytesOnBackChannel]. */
export type ForwardStatus = [0 | 1, number, number]

/**
 * One WebChannel session's connection state, across all its HTTP requests:
 * the array queue and its acknowledgements, the current back channel, the
 * forward map ordering, and the timers (keepalive, back-channel recycling,
 * long-poll hold, idle expiry). It is the session's `Transport`.
 */
export class WebChannelConnection implements Transport {
  readonly kind = 'webchannel'
  readonly forward: ForwardChannel
  /** The principal that opened the session: only it may continue the session. */
  readonly principal: unknown
  private readonly opts: ConnectionOptions
  private readonly log: FastifyBaseLogger
  private readonly onFree: (conn: WebChannelConnection) => void
  private readonly queue = new ArrayQueue()
  private readonly recycleUnits: number
  private readonly recycleArrays: number
  private sink: TransportSink | null = null
  private stateName: ConnectionState = 'handshaking'
  private bc: BackChannel | null = null
  /** Newest array id written to any response. */
  private lastSentId = -1
  private keepaliveTimer: NodeJS.Timeout | null = null
  private maxAgeTimer: NodeJS.Timeout | null = null
  private pollTimer: NodeJS.Timeout | null = null
  private expiryTimer: NodeJS.Timeout | null = null
  private earlyEnd: { reason: EndReason, code: number, detail: string } | null = null
  /** Where a successor instance would find this session (a shared session store), once the SID exists. */
  private store: SessionStore | null = null
  /** Continued from a store: there is no handshake, the session is open at once. */
  private resumed = false
  private endReason: EndReason | null = null

  constructor (opts: ConnectionOptions, log: FastifyBaseLogger, principal: unknown, onFree: (conn: WebChannelConnection) => void) {
    this.opts = opts
    this.principal = principal
    this.log = log
    this.onFree = onFree
    // Recycle a streaming GET well before the caps, so a reading client never
    // hits them (acks only come with the next request) and its XHR buffer stays small.
    this.recycleUnits = Math.max(1, Math.min(1024 * 1024, Math.floor(opts.maxPendingBytes / 2)))
    this.recycleArrays = Math.max(1, Math.floor(opts.maxPendingMessages / 2))
    // Id 0 is the `c` array; its payload is set once the session (and SID) exists.
    this.queue.push('null')
    this.forward = new ForwardChannel(
      (map) => this.receive(map),
      // A POST waiting for an earlier one gives up well inside the client's own POST timeout.
      5000,
      10_000)
  }

  get state (): ConnectionState { return this.stateName }
  get bufferedAmount (): number { return this.queue.size }
  /** The session id (SID); null until a session is attached. */
  get id (): string | null { return this.sink?.id ?? null }
  get hasBackChannel (): boolean { return this.bc !== null }
  /** Newest array id written to any response: a client cannot acknowledge beyond it. */
  get lastSent (): number { return this.lastSentId }

  /** Carry the session the hub opened on this connection, and build the `c` array with its SID. */
  attach (sink: TransportSink): void {
    this.sink = sink
    if (this.resumed) {
      this.stateName = 'open'
      this.armExpiry()
    } else {
      this.queue.setPayload(0, JSON.stringify(['c', sink.id, null, 8, 0, this.opts.keepaliveInterval]))
    }
    const early = this.earlyEnd
    if (early !== null) {
      this.earlyEnd = null
      sink.ended(early.reason, early.code, early.detail)
    }
  }

  // ---- handshake ------------------------------------------------------

  /**
   * The arrays for the handshake reply: `c` and everything queued while the
   * handshake maps were delivered, in one chunk (a second chunk would be read
   * as a forward reply and kill the channel).
   */
  takeHandshakeArrays (): WireArray[] {
    const arrays = this.queue.after(-1)
    if (arrays.length > 0) this.lastSentId = arrays[arrays.length - 1].id
    if (this.stateName === 'handshaking') {
      this.stateName = 'open'
      this.armExpiry()
    } else if (this.stateName === 'closing') {
      // The session ended during the handshake; the reply carries its close/stop.
      this.free()
    }
    return arrays
  }

  // ---- forward channel ------------------------------------------------

  /** Acknowledge arrays up to `aid` (sent on forward and back-channel requests). */
  ack (aid: number | null): void {
    if (aid === null || this.stateName === 'closed') return
    const upTo = Math.min(aid, this.lastSentId)
    this.queue.ack(upTo)
    if (this.store !== null && this.sink !== null) this.store.ack(this.sink.id, upTo)
  }

  /** Deliver one POST's maps. While closing, maps are acknowledged but dropped, as on a closed socket. */
  submit (maps: readonly ForwardMap[]): Promise<ForwardOutcome> {
    if (this.stateName === 'closing') return Promise.resolve('accepted')
    return this.forward.submit(maps)
  }

  /** 0 when the session may take this POST's new maps now, else seconds to wait (its message rate). */
  admit (maps: readonly ForwardMap[]): number {
    const next = this.forward.delivered
    let fresh = 0
    for (const m of maps) if (m.id >= next) fresh++
    return this.sink?.admit?.(fresh) ?? 0
  }

  status (): ForwardStatus {
    return [this.bc !== null ? 1 : 0, this.lastSentId, this.queue.sizeThrough(this.lastSentId)]
  }

  private receive (map: ForwardMap): Promise<void> | undefined {
    const sink = this.sink
    if (sink === null || this.stateName === 'closing' || this.stateName === 'closed') {
      return Promise.reject(new Error('session ended'))
    }
    // __data__ is the client's JSON text (sendRawJson): the same envelope as a WebSocket frame.
    return sink.receive(map.kind === 'data' ? map.data : (map.kind === 'map' ? map.data : {}))
  }

  // ---- back channel ---------------------------------------------------

  /** A back-channel GET arrived: it replaces any older one and gets everything above its AID. */
  openBackChannel (req: BackChannelRequest): void {
    this.ack(req.aid)
    // The client hung up while the app's hooks ran: nothing would ever tell
    // us, and a dead GET must not stand in for a live one (the session would
    // never expire).
    if (req.res.destroyed || req.res.socket === null || req.res.socket.destroyed) return
    if (this.bc !== null) {
      const old = this.bc
      this.detachBackChannel()
      old.end()
    }
    this.clearTimer('expiryTimer')
    if (this.store !== null && this.sink !== null) this.store.touch(this.sink.id)
    const bc = new BackChannel(
      { res: req.res, streaming: req.streaming, gzip: req.gzip, acked: req.aid ?? -1, headers: req.headers, drainTimeout: this.opts.sessionTimeout, send: req.send },
      () => { if (this.bc === bc) this.backChannelGone() })
    this.bc = bc

    if (this.stateName === 'closing') {
      // Carry the queued close/stop, then forget the session.
      this.writePending(true)
      this.free()
      return
    }
    const pending = this.queue.after(bc.lastWrittenId)
    if (bc.streaming) {
      // A fresh idle GET gets a noop at once: with detectBufferingProxy the
      // client drops to long polling for good if no body bytes arrive quickly.
      if (pending.length === 0) this.enqueue(NOOP)
      this.keepaliveTimer = setTimeout(() => this.keepalive(), this.opts.keepaliveInterval)
      this.maxAgeTimer = setTimeout(() => this.recycle(), this.opts.backChannelMaxAge)
      this.writePending(false)
    } else if (pending.length > 0) {
      this.writePending(false)
    } else {
      // Hold the poll; answer with a noop before the client's watchdog
      // (1.5 × keepaliveInterval) fires. Never an empty 200: that is NO_DATA.
      const hold = Math.min(this.opts.longPollTimeout, this.opts.keepaliveInterval, req.timeout ?? Infinity)
      this.pollTimer = setTimeout(() => this.keepalive(), hold)
    }
  }

  private keepalive (): void {
    if (this.bc === null || this.stateName !== 'open') return
    this.enqueue(NOOP)
    this.writePending(false)
  }

  /** End the streaming GET after backChannelMaxAge: the client reopens it at once. */
  private recycle (): void {
    const bc = this.bc
    if (bc === null) return
    this.detachBackChannel()
    bc.end()
  }

  /** Write every array the current GET has not carried; a long poll ends with it. */
  private writePending (final: boolean): void {
    const bc = this.bc
    if (bc === null) return
    const pending = this.queue.after(bc.lastWrittenId)
    if (pending.length > 0) {
      bc.write(pending)
      this.lastSentId = Math.max(this.lastSentId, bc.lastWrittenId)
      this.keepaliveTimer?.refresh()
    }
    if (final || !bc.open || (bc.streaming && (bc.unitsWritten >= this.recycleUnits || bc.arraysWritten >= this.recycleArrays))) {
      this.detachBackChannel()
      bc.end()
    }
  }

  /** Queue an array (and store it, for a successor instance); returns its id. */
  private enqueue (payload: string): number {
    const id = this.queue.push(payload)
    if (this.store !== null && this.sink !== null) this.store.append(this.sink.id, id, payload)
    return id
  }

  private scheduleFlush (): void {
    if (this.bc === null) return
    // Everything sent in this turn goes out as one chunk (turn-batch.ts: a
    // nextTick, or earlier once the turn's write budget is spent). A nextTick
    // queued from a microtask runs only once the microtask queue is empty,
    // i.e. after the forward channel has delivered every map of the POST, so
    // all their answers share one GET.
    holdForThisTurn(this)
  }

  /** turn-batch.ts: write what this turn queued. */
  writeHeld (): void {
    if (this.stateName === 'open') this.writePending(false)
  }

  private detachBackChannel (): void {
    this.bc = null
    this.clearTimer('keepaliveTimer')
    this.clearTimer('maxAgeTimer')
    this.clearTimer('pollTimer')
    if (this.stateName === 'open') this.armExpiry()
  }

  private backChannelGone (): void {
    this.detachBackChannel()
  }

  /** No back channel for sessionTimeout: the client is gone. */
  private armExpiry (): void {
    this.clearTimer('expiryTimer')
    this.expiryTimer = setTimeout(() => {
      if (this.stateName !== 'open' || this.bc !== null) return
      this.end('timeout', CloseCode.GOING_AWAY, 'No back channel for ' + this.opts.sessionTimeout + ' ms')
      this.free()
    }, this.opts.sessionTimeout)
  }

  // ---- Transport --------------------------------------------------------

  send (message: OutboundMessage): boolean {
    if (this.stateName === 'closing' || this.stateName === 'closed') return false
    const payload = payloadOf(message)
    if (this.queue.length + 1 > this.opts.maxPendingMessages || this.queue.size + payload.length > this.opts.maxPendingBytes) {
      this.log.warn({ session: this.sink?.id.slice(0, 8), pending: this.queue.length, bytes: this.queue.size }, 'webchannel: slow consumer, stopping session')
      this.close(CloseCode.TRY_AGAIN_LATER, 'Slow consumer', 'error')
      return false
    }
    this.enqueue(payload)
    this.scheduleFlush()
    if (this.bc !== null) spend(payload.length)
    return true
  }

  /** `stop` for errors and expiry (the client reports ERROR, sends no terminate), `close` otherwise. */
  close (code: number, reason: string, why: EndReason): void {
    if (this.stateName === 'closing' || this.stateName === 'closed') return
    const wasHandshaking = this.stateName === 'handshaking'
    if (why === 'shutdown') this.bc?.closeConnectionAfter()
    // `stop` makes the client report an error and not terminate: for failures, and for expired credentials.
    this.enqueue(why === 'error' || why === 'expired' ? STOP : CLOSE)
    this.end(why, code, reason)
    if (wasHandshaking) return // the handshake reply carries it
    if (this.bc !== null) {
      this.writePending(true)
      this.free()
    } else {
      // Linger until the client's next GET picks the close up.
      this.clearTimer('expiryTimer')
      this.expiryTimer = setTimeout(() => this.free(), this.opts.sessionTimeout)
    }
  }

  // ---- a shared session store ------------------------------------------

  /** A session another instance can continue: store it, and every array queued so far. */
  persistTo (store: SessionStore, principalKey: string): void {
    const sid = this.sink?.id
    if (sid === undefined || this.stateName === 'closed') return
    store.create(sid, this.principal, principalKey)
    for (const a of this.queue.after(-1)) store.append(sid, a.id, a.payload)
    this.store = store
  }

  /** A connection that continues a stored session (its owner is gone); attach() opens it. */
  static resume (opts: ConnectionOptions, log: FastifyBaseLogger, stored: StoredSession, store: SessionStore, onFree: (conn: WebChannelConnection) => void): WebChannelConnection {
    const conn = new WebChannelConnection(opts, log, stored.principal, onFree)
    const last = stored.arrays.length > 0 ? stored.arrays[stored.arrays.length - 1].id : stored.acked
    conn.queue.resume(stored.arrays, last + 1)
    conn.lastSentId = last
    conn.forward.resumeAt(stored.delivered)
    conn.resumed = true
    conn.store = store
    return conn
  }

  membership (channel: string, joined: boolean): void {
    const sid = this.sink?.id
    if (this.store === null || sid === undefined || this.stateName !== 'open') return
    if (joined) this.store.join(sid, channel)
    else this.store.leave(sid, channel)
  }

  /**
   * app.close() with a session store: the back channel ends without `close`,
   * so the client reopens it and another instance takes the session over.
   * Resolves once that response is done.
   */
  async handOff (): Promise<void> {
    if (this.stateName !== 'open' || this.store === null) return await this.shutdown(CloseCode.GOING_AWAY, 'Server shutting down')
    // Maps in flight are delivered (and their position stored) before the session moves.
    await this.forward.idle()
    const sid = this.sink?.id
    if (this.stateName !== 'open' || sid === undefined) return
    // Released and ended in one go: nothing can be queued here after a successor may have read the store.
    const released = this.store.release([sid])
    const bc = this.bc
    bc?.closeConnectionAfter()
    this.end('moved', CloseCode.GOING_AWAY, 'Session moved to another instance')
    this.free()
    await released
    await bc?.closed()
  }

  /** Server shutdown: `close` to the client; resolves once the back channel carrying it is done. */
  shutdown (code: number, reason: string): Promise<void> | undefined {
    const bc = this.bc
    this.close(code, reason, 'shutdown')
    return bc?.closed()
  }

  /** The client terminated: deliver the maps already in flight, then end. */
  async terminate (): Promise<void> {
    if (this.stateName === 'open' || this.stateName === 'handshaking') {
      await this.forward.idle()
      if (this.stateName === 'open' || this.stateName === 'handshaking') this.end('client-close', CloseCode.NORMAL, 'terminate')
    }
    this.free()
  }

  /** Shutdown and tests: cut any back channel and forget everything. */
  free (): void {
    if (this.stateName === 'closed') return
    if (this.stateName !== 'closing') this.end('shutdown', CloseCode.GOING_AWAY, 'freed')
    this.stateName = 'closed'
    const bc = this.bc
    this.detachBackChannel()
    this.clearTimer('expiryTimer')
    bc?.end()
    this.queue.clear()
    this.forward.dispose()
    if (this.store !== null && this.sink !== null && this.endReason !== 'moved') this.store.remove(this.sink.id)
    this.onFree(this)
  }

  /** The session ends now; the connection may linger to deliver close/stop. */
  private end (reason: EndReason, code: number, detail: string): void {
    this.stateName = 'closing'
    this.endReason = reason
    this.forward.dispose()
    if (this.sink !== null) this.sink.ended(reason, code, detail)
    else this.earlyEnd = { reason, code, detail }
  }

  private clearTimer (name: 'keepaliveTimer' | 'maxAgeTimer' | 'pollTimer' | 'expiryTimer'): void {
    const t = this[name]
    if (t !== null) {
      clearTimeout(t)
      this[name] = null
    }
  }
}
