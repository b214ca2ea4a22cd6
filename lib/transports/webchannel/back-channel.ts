import type { ServerResponse } from 'node:http'
import { constants as zlibConstants, createGzip, gzipSync, type Gzip } from 'node:zlib'
import { frameArrays, type WireArray } from '../../codecs/webchannel-framing.js'

/** Headers every response the client parses carries (wire notes §11). */
export const NO_CACHE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/plain; charset=utf-8',
  'cache-control': 'no-cache, no-store, max-age=0, must-revalidate',
  pragma: 'no-cache',
  expires: '0',
  // Chrome renders incremental text/plain only without sniffing (Go wc).
  'x-content-type-options': 'nosniff',
  // nginx would otherwise buffer the stream.
  'x-accel-buffering': 'no',
}

export interface BackChannelInit {
  res: ServerResponse
  /** CI=0: keep writing chunks; CI=1: end after the first write. */
  streaming: boolean
  gzip: boolean
  /** The client has every array up to this id (its AID). */
  acked: number
  /** Extra response headers (CORS, X-HTTP-Initial-Response). */
  headers: Readonly<Record<string, string>>
  /** After end(), how long the client has to read what is left before the connection is cut (ms). */
  drainTimeout: number
  /**
   * Long poll only: its one body goes here (the caller's HTTP framework,
   * whose compression settings then apply) instead of being written to `res`.
   */
  send?: (body: string) => void
}

type State = 'open' | 'ended'

/**
 * One back-channel GET: a hanging response the session writes array chunks
 * to. Streaming GETs get their headers at once and each chunk flushed as it is
 * written (gzip sync-flushed per chunk, or the client sees nothing until the
 * stream ends); long polls are answered with one chunk and ended.
 */
export class BackChannel {
  readonly streaming: boolean
  readonly openedAt = Date.now()
  /** Newest array id written to this GET (starts at the client's AID). */
  lastWrittenId: number
  /** Payload units written to this GET, to recycle it before client buffers grow large. */
  unitsWritten = 0
  arraysWritten = 0
  private state: State = 'open'
  private readonly res: ServerResponse
  private readonly gzip: Gzip | null
  private readonly compress: boolean
  private readonly drainTimeout: number
  private readonly send: ((body: string) => void) | null
  private onGone: (() => void) | null

  /** `onGone` runs once if the client goes away before the server ends the GET. */
  constructor (init: BackChannelInit, onGone: () => void) {
    this.res = init.res
    this.streaming = init.streaming
    this.lastWrittenId = init.acked
    this.compress = init.gzip
    this.drainTimeout = init.drainTimeout
    this.send = init.streaming ? null : init.send ?? null
    this.onGone = onGone
    const res = this.res
    const headers: Record<string, string> = { ...NO_CACHE_HEADERS, ...init.headers }
    if (init.gzip && init.streaming) {
      headers['content-encoding'] = 'gzip'
      headers.vary = 'Accept-Encoding'
    }
    res.on('error', () => {})
    res.once('close', () => {
      if (this.state === 'open') {
        this.state = 'ended'
        this.gzip?.destroy()
        const fn = this.onGone
        this.onGone = null
        fn?.()
      }
    })
    for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
    if (this.streaming) {
      res.writeHead(200)
      if (init.gzip) {
        // Node holds headers until the first body write, which zlib delays: send them now.
        res.flushHeaders()
        this.gzip = createGzip({ flush: zlibConstants.Z_SYNC_FLUSH })
        this.gzip.on('error', () => res.destroy())
        this.gzip.pipe(res)
      } else {
        // The connection writes its first chunk (at least a noop) right after
        // this, synchronously: headers and first bytes leave in one packet,
        // well inside detectBufferingProxy's 2 × RTT window.
        this.gzip = null
      }
    } else {
      this.gzip = null
    }
  }

  get open (): boolean { return this.state === 'open' }

  /**
   * Drop the connection once this response is done (shutdown): a keep-alive
   * socket that finishes after Fastify closed idle connections would hold
   * app.close() open for keepAliveTimeout.
   */
  closeConnectionAfter (): void {
    // HTTP/2 has no connection-level headers (Node warns, proxies reject); the session's stream just ends.
    if (this.res.req.httpVersionMajor >= 2) return
    if (!this.res.headersSent) this.res.setHeader('connection', 'close')
    else this.res.once('finish', () => this.res.socket?.destroy())
  }

  /**
   * Resolves once the response is over: written in full (a gzip stream ends
   * asynchronously) or cut. Shutdown waits for it before the server stops.
   */
  closed (): Promise<void> {
    const res = this.res
    if (res.closed) return Promise.resolve()
    return new Promise(resolve => res.once('close', () => resolve()))
  }

  /** Write arrays as one chunk. A long poll is ended by its first write. */
  write (arrays: readonly WireArray[]): void {
    if (this.state !== 'open' || arrays.length === 0) return
    const text = frameArrays(arrays)
    this.lastWrittenId = arrays[arrays.length - 1].id
    this.arraysWritten += arrays.length
    this.unitsWritten += text.length
    if (this.send !== null) {
      this.finish()
      this.send(text)
      return
    }
    if (!this.streaming) {
      const body = this.compress ? gzipSync(text) : Buffer.from(text, 'utf8')
      if (this.compress) {
        this.res.setHeader('content-encoding', 'gzip')
        this.res.setHeader('vary', 'Accept-Encoding')
      }
      this.res.setHeader('content-length', body.length)
      this.finish()
      this.res.end(body)
      return
    }
    if (this.gzip !== null) {
      // The stream's default flush is Z_SYNC_FLUSH: each chunk leaves whole, without ending the stream.
      this.gzip.write(text)
    } else {
      this.res.write(text)
    }
  }

  /** End the GET (the client reopens it). */
  end (): void {
    if (this.state !== 'open') return
    this.finish()
    if (this.gzip !== null) this.gzip.end()
    else if (this.send !== null) this.send('')
    else if (!this.res.headersSent && !this.streaming) this.res.writeHead(200).end()
    else this.res.end()
    this.cutIfUnread()
  }

  /**
   * A client that never reads (slowloris) would keep the ended response, and
   * everything still buffered for it, as long as its socket lives: cut it once
   * it has had drainTimeout to read the rest.
   */
  private cutIfUnread (): void {
    const res = this.res
    if (res.closed) return
    const timer = setTimeout(() => res.destroy(), this.drainTimeout)
    timer.unref()
    res.once('close', () => clearTimeout(timer))
  }

  /** Cut the connection without a clean end (the client sees a network error). */
  destroy (): void {
    this.finish()
    this.res.destroy()
  }

  private finish (): void {
    this.state = 'ended'
    this.onGone = null
  }
}
