import type { WebChannelConnection } from './connection.js'

/**
 * Where the WebChannel transport finds a session's connection by its SID.
 * Every request after the handshake names its session only by SID, so this
 * is what makes a session continue across HTTP requests. In memory by
 * default; a shared store (sessions that outlive an instance) implements the
 * same interface.
 */
export interface SessionRegistry {
  get (sid: string): WebChannelConnection | undefined
  set (sid: string, conn: WebChannelConnection): void
  /** Forget `sid` if it still maps to `conn`. */
  delete (sid: string, conn: WebChannelConnection): void
  values (): Iterable<WebChannelConnection>
  readonly size: number
}

export class MemoryRegistry implements SessionRegistry {
  private readonly map = new Map<string, WebChannelConnection>()

  get (sid: string): WebChannelConnection | undefined {
    return this.map.get(sid)
  }

  set (sid: string, conn: WebChannelConnection): void {
    this.map.set(sid, conn)
  }

  delete (sid: string, conn: WebChannelConnection): void {
    if (this.map.get(sid) === conn) this.map.delete(sid)
  }

  values (): Iterable<WebChannelConnection> {
    return [...this.map.values()]
  }

  get size (): number { return this.map.size }
}
