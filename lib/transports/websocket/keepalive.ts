import type { WsConnection } from './ws-connection.js'

export interface KeepaliveOptions {
  pingInterval: number
  pongTimeout: number
  writeTimeout: number
}

/**
 * One sweep timer for all WebSocket connections (not one per socket): every
 * `pingInterval` each connection not already awaiting a pong is pinged; one
 * whose send buffer has not drained for `writeTimeout` is terminated.
 *
 * Pong deadlines are per ping: each sweep that pinged arms one timer, due
 * `pongTimeout` later, which terminates only the peers pinged by that sweep
 * and still silent. A shared deadline would also cut peers pinged a moment
 * before it fired (whenever `pongTimeout` is a multiple of `pingInterval`
 * both fall due together). A silent peer is cut at most
 * `pingInterval + pongTimeout` after its last answer.
 */
export class Keepalive {
  private readonly conns = new Set<WsConnection>()
  private readonly options: KeepaliveOptions
  private pingTimer: NodeJS.Timeout | null = null
  /** Pong deadlines of the sweeps still within `pongTimeout`. */
  private readonly deadlines = new Set<NodeJS.Timeout>()
  /** Sweeps so far; a connection's `pingRound` names the sweep whose ping it owes. */
  private round = 0

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
    this.pingTimer = null
    for (const timer of this.deadlines) clearTimeout(timer)
    this.deadlines.clear()
  }

  private sweep (): void {
    const now = Date.now()
    const round = ++this.round
    let pinged = false
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
      // Still owing an earlier ping: its own deadline judges it; a new ping
      // would only move that deadline away.
      if (conn.pingRound !== 0) continue
      conn.pingRound = round
      conn.socket.ping()
      pinged = true
    }
    if (pinged) this.armDeadline(round)
  }

  private armDeadline (round: number): void {
    const timer = setTimeout(() => {
      this.deadlines.delete(timer)
      for (const conn of this.conns) {
        if (conn.pingRound === round && conn.socket.readyState === 1) conn.terminate('timeout')
      }
    }, this.options.pongTimeout)
    timer.unref()
    this.deadlines.add(timer)
  }
}
