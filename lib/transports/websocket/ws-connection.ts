import type { Socket } from 'node:net'
import type { FastifyBaseLogger } from 'fastify'
import type { WebSocket } from 'ws'
import { encodeBinaryFrame, encodeTextFrame } from '../../codecs/ws-frame.js'
import type { EndReason, OutboundMessage, Transport, TransportSink } from '../transport.js'
import { corkForThisTurn, spend } from '../turn-batch.js'

/** How long a peer that broke the protocol may take to finish the close handshake (ms). */
const ERROR_CLOSE_GRACE = 1500

export interface WsConnectionOptions {
  /** Bytes queued before the slow-consumer policy closes with 1013. */
  maxBufferedBytes: number
}

/**
 * One WebSocket carrying one session. Without permessage-deflate every
 * message is written as a frame prepared once for all recipients, straight to
 * the TCP socket, corked for the rest of the event-loop turn (or until the
 * turn's write budget is spent: `turn-batch.ts`) so that several
 * frames leave in one write. Writes never block other recipients: a peer that
 * lets more than `maxBufferedBytes` pile up is closed with 1013.
 */
export class WsConnection implements Transport {
  readonly kind = 'websocket' as const
  readonly socket: WebSocket
  /**
   * The upgraded TCP socket (the request's socket); ws writes to it synchronously too.
   * null for an in-memory connection (@fastify/websocket's injectWS): ws then frames and writes.
   */
  private readonly tcp: Socket | null
  /** permessage-deflate negotiated: frames differ per connection, so ws frames them. */
  private readonly deflate: boolean
  private sink: TransportSink | null = null
  private readonly options: WsConnectionOptions
  private why: EndReason | null = null
  /** The close frame we sent, reported even if the peer never answered it. */
  private sent: { code: number, reason: string } | null = null
  /** The keepalive sweep whose ping this peer has not answered yet (0: none owed). */
  pingRound = 0
  /** When the send buffer was last seen non-empty without draining (0: drained). */
  stalledSince = 0
  /** Cuts a connection whose close handshake after a protocol error takes too long. */
  private graceTimer: NodeJS.Timeout | null = null
  /** Bytes still queued from earlier turns when this turn's first frame was written. */
  private backlog = 0
  private readonly log: FastifyBaseLogger
  private readonly onClosed: ((conn: WsConnection) => void) | null

  /**
   * Takes over the socket's error handling at once (log, cut the connection),
   * so a socket refused before a session exists is covered too. `onClosed`
   * runs once the socket has closed, after the session was told.
   */
  constructor (socket: WebSocket, tcp: Socket | undefined, options: WsConnectionOptions, log: FastifyBaseLogger, onClosed: ((conn: WsConnection) => void) | null = null) {
    this.socket = socket
    this.tcp = tcp ?? null
    this.options = options
    this.log = log
    this.onClosed = onClosed
    this.deflate = socket.extensions.includes('permessage-deflate')
    // ws reports protocol violations (oversize, bad UTF-8, bad frames) and
    // send failures here, after it has sent its close frame (1009, 1007, …)
    // and half-closed the socket. Cutting it now would reset the connection
    // while the peer is still writing the offending frame, and the RST
    // discards our close frame at the peer (it sees 1006). So let the close
    // handshake finish: ws keeps the socket flowing with no data listener
    // (what arrives is discarded, nothing is buffered), and the connection is
    // cut only if the peer has not closed within the grace period.
    socket.on('error', (err: Error) => {
      if (this.why === null) this.why = 'error'
      this.log.info({ err }, 'webchannel: websocket error')
      // Report the code ws sent: the peer's answer is never read (1006).
      const code = wsCloseCode(err)
      if (code !== null && this.sent === null) this.sent = { code, reason: '' }
      this.cutAfterGrace()
    })
  }

  private cutAfterGrace (): void {
    if (this.graceTimer !== null || this.socket.readyState === 3) return
    this.tcp?.resume()
    this.graceTimer = setTimeout(() => this.socket.terminate(), ERROR_CLOSE_GRACE)
    this.graceTimer.unref()
    this.socket.once('close', () => { if (this.graceTimer !== null) clearTimeout(this.graceTimer) })
  }

  /** Wire the socket's events to the session. */
  attach (sink: TransportSink): void {
    this.sink = sink
    const socket = this.socket
    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data)
      if (isBinary) {
        sink.receiveBinary?.(buf)
        return
      }
      // A rejected receive matters only to WebChannel acknowledgements; here it is already logged.
      sink.receive(buf.toString())?.catch(noop)
    })
    socket.on('pong', () => { this.pingRound = 0 })
    socket.on('close', (code: number, reason: Buffer) => {
      const why = this.why ?? 'client-close'
      if (this.sent !== null) sink.ended(why, this.sent.code, this.sent.reason)
      else sink.ended(why, code, reason.toString())
      this.onClosed?.(this)
    })
  }

  get bufferedAmount (): number {
    return this.socket.bufferedAmount
  }

  send (message: OutboundMessage): boolean {
    const socket = this.socket
    if (socket.readyState !== 1) return false
    const tcp = this.tcp
    // Judge the peer by what it left unread from earlier turns, not by this
    // turn's burst, which is still corked and has had no chance to drain.
    if (tcp === null) this.backlog = socket.bufferedAmount
    else if (corkForThisTurn(tcp)) this.backlog = tcp.writableLength
    if (this.backlog > this.options.maxBufferedBytes) {
      this.close(1013, 'Slow consumer', 'error')
      return false
    }
    if (this.deflate || tcp === null) {
      socket.send(message.binary ?? message.json, { binary: message.binary !== null })
    } else {
      if (message.wsFrame === null) message.wsFrame = message.binary === null ? encodeTextFrame(message.json) : encodeBinaryFrame(message.binary)
      tcp.write(message.wsFrame)
      spend(message.wsFrame.length)
    }
    return true
  }

  close (code: number, reason: string, why: EndReason): void {
    if (this.why !== null) return
    this.why = why
    const socket = this.socket
    if (socket.readyState === 0 || socket.readyState === 1) {
      this.sent = { code, reason }
      socket.close(code, reason)
      // A peer too slow to read its messages will not read a close frame either.
      if (why === 'error' && code === 1013) setTimeout(() => socket.terminate(), 1000).unref()
    } else if (socket.readyState === 3) {
      this.sink?.ended(why, code, reason)
    }
  }

  abort (why: EndReason): void {
    this.terminate(why)
  }

  /** Cut the TCP connection now (dead peer, write timeout, shutdown timeout). */
  terminate (why: EndReason): void {
    if (this.why === null) this.why = why
    // ws emits 'close' (1006) after terminate; the sink then reports our reason.
    this.socket.terminate()
  }
}

function noop (): void {}

/** The close code ws sent for a protocol error (1002, 1007, 1009), kept under its own symbol. */
function wsCloseCode (err: Error): number | null {
  const key = Object.getOwnPropertySymbols(err).find(s => s.description === 'status-code')
  const code = key === undefined ? undefined : (err as unknown as Record<symbol, unknown>)[key]
  return typeof code === 'number' ? code : null
}
