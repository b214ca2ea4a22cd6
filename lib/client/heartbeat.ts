// Client-side liveness for a WebSocket: a dead peer behind a NAT or a proxy
// that dropped the connection silently is never reported by the socket itself
// (no FIN arrives). When nothing has arrived for `interval`, the client sends
// a request and expects something, anything, within `timeout`.

export interface HeartbeatOptions {
  /** Quiet time (ms) after which the client asks. Default 25000. */
  interval?: number
  /** How long (ms) it waits for any inbound message after asking. Default 10000. */
  timeout?: number
}

export const heartbeatDefaults: Required<HeartbeatOptions> = { interval: 25_000, timeout: 10_000 }

export class Heartbeat {
  private readonly o: Required<HeartbeatOptions>
  private readonly ask: () => void
  private readonly dead: () => void
  private lastSeen = Date.now()
  private timer: ReturnType<typeof setTimeout> | null = null

  constructor (o: Required<HeartbeatOptions>, ask: () => void, dead: () => void) {
    this.o = o
    this.ask = ask
    this.dead = dead
    this.schedule(o.interval)
  }

  /** Something arrived: the peer is alive. */
  seen (): void {
    this.lastSeen = Date.now()
  }

  stop (): void {
    if (this.timer !== null) clearTimeout(this.timer)
    this.timer = null
  }

  private schedule (ms: number): void {
    this.timer = setTimeout(() => this.check(), ms)
    ;(this.timer as { unref?: () => void }).unref?.()
  }

  private check (): void {
    const quiet = Date.now() - this.lastSeen
    if (quiet < this.o.interval) {
      this.schedule(this.o.interval - quiet)
      return
    }
    const asked = Date.now()
    this.ask()
    this.timer = setTimeout(() => {
      if (this.lastSeen >= asked) this.schedule(this.o.interval)
      else this.dead()
    }, this.o.timeout)
    ;(this.timer as { unref?: () => void }).unref?.()
  }
}
