import type { WebSocket } from 'ws'
import type { EndReason, OutboundMessage, Transport, TransportSink } from '../transport.js'

export interface WsConnectionOptions {
  /** Bytes queued before the slow-consumer policy closes with 1013. */
  maxBufferedBytes: number
}

/** The payload bytes of a message, encoded once and shared by every recipient. */
function payloadOf (message: OutboundMessage): Buffer {
  let b = message.encoded as Buffer | undefined
  if (b === undefined) {
    b = message.binary ?? Buffer.from(message.json)
    message.encoded = b
  }
  return b
}

/**
 * One WebSocket carrying one session. Writes never block other recipients:
 * a peer that lets more than `maxBufferedBytes` pile up is closed with 1013
 * (try again later) and its messages are dropped.
 */
export class WsConnection implements Transport {
  readonly kind = 'websocket' as const
  readonly socket: WebSocket
  private sink: TransportSink | null = null
  private readonly options: WsConnectionOptions
  private why: EndReason | null = null
  /** Ping bookkeeping for the keepalive sweep. */
  awaitingPong = false
  /** When the send buffer was last seen non-empty without draining (0: drained). */
  stalledSince = 0

  constructor (socket: WebSocket, options: WsConnectionOptions) {
    this.socket = socket
    this.options = options
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
      sink.receive(buf.toString()).catch(noop)
    })
    socket.on('pong', () => { this.awaitingPong = false })
    // ws reports protocol violations (oversize, bad UTF-8, bad frames) here before closing.
    socket.on('error', () => { if (this.why === null) this.why = 'error' })
    socket.on('close', (code: number, reason: Buffer) => {
      const why = this.why ?? (code === 1009 || code === 1002 || code === 1007 ? 'error' : 'client-close')
      sink.ended(why, code, reason.toString())
    })
  }

  get bufferedAmount (): number {
    return this.socket.bufferedAmount
  }

  send (message: OutboundMessage): boolean {
    const socket = this.socket
    if (socket.readyState !== 1) return false
    if (socket.bufferedAmount > this.options.maxBufferedBytes) {
      this.close(1013, 'Slow consumer', 'error')
      return false
    }
    socket.send(payloadOf(message), { binary: message.binary !== null })
    return true
  }

  close (code: number, reason: string, why: EndReason): void {
    if (this.why !== null) return
    this.why = why
    const socket = this.socket
    if (socket.readyState === 0 || socket.readyState === 1) {
      // A peer too slow to read its messages will not read a close frame either.
      if (why === 'error' && code === 1013) {
        socket.close(code, reason)
        setTimeout(() => socket.terminate(), 1000).unref()
      } else {
        socket.close(code, reason)
      }
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
