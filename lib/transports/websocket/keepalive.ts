import type { WsConnection } from './ws-connection.js'

export interface KeepaliveOptions {
  pingInterval: number
  pongTimeout: number
  writeTimeout: number
}

/**
 * One timer for all WebSocket connections (not one per socket): every
 * `pingInterval` each connection is pinged; one that has not answered within
 * `pongTimeout` is terminated as dead, and so is one whose send buffer has not
 * drained for `writeTimeout`.
 */
export class Keepalive {
  private readonly conns = new Set<WsConnection>()
  private readonly options: KeepaliveOptions
  private pingTimer: NodeJS.Timeout | null = null
  private pongTimer: NodeJS.Timeout | null = null

  constructor (options: KeepaliveOptions) {
    this.options = options
  }

  add (conn: WsConnection): void {
    this.conns.add(conn)
    if (this.pingTimer === null && this.options.pingInterval > 0) {
      this.pingTimer = setInterval(() => this.sweep(), this.options.pingInterval)
      this.pingTimer.unref()
    }
  }

  delete (conn: WsConnection): void {
    this.conns.delete(conn)
    if (this.conns.size === 0) this.stop()
  }

  stop (): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer)
    if (this.pongTimer !== null) clearTimeout(this.pongTimer)
    this.pingTimer = null
    this.pongTimer = null
  }

  private sweep (): void {
    const now = Date.now()
    for (const conn of this.conns) {
      if (conn.socket.readyState !== 1) continue
      if (conn.bufferedAmount > 0) {
        if (conn.stalledSince === 0) conn.stalledSince = now
        else if (now - conn.stalledSince >= this.options.writeTimeout) {
          conn.terminate('timeout')
          continue
        }
      } else {
        conn.stalledSince = 0
      }
      conn.awaitingPong = true
      conn.socket.ping()
    }
    if (this.pongTimer === null) {
      this.pongTimer = setTimeout(() => {
        this.pongTimer = null
        for (const conn of this.conns) {
          if (conn.awaitingPong && conn.socket.readyState === 1) conn.terminate('timeout')
        }
      }, this.options.pongTimeout)
      this.pongTimer.unref()
    }
  }
}
