// Where a session's state lives beyond the instance that serves it. The
// in-memory default keeps nothing outside the process (the plugin never calls
// a store then); a shared store (Redis) lets any instance continue a session:
// it forwards a request to the session's owner while the owner lives, and
// takes the session over from the stored state when the owner is gone.

/** What any instance needs to continue a WebChannel session. */
export interface StoredSession {
  sid: string
  /** The principal that opened the session, as JSON. */
  principal: unknown
  /** principalKey() of that principal, checked before anyone may take the session over. */
  principalKey: string
  /** Every forward map id below this one was delivered to the app. */
  delivered: number
  /** Server→client arrays not yet acknowledged by the client, in id order. */
  arrays: Array<{ id: number, payload: string }>
  /** The client acknowledged every array up to this id. */
  acked: number
  /** Channels the session is subscribed to. */
  channels: string[]
}

/** Where a request for a session this instance does not hold should go. */
export type Route =
  | { kind: 'unknown' } // no such session, or another principal's
  | { kind: 'relay', owner: string, url: string } // its owner lives: forward the request there
  | { kind: 'claimed', session: StoredSession } // its owner is gone: this instance owns it now

export interface SessionStore {
  /** This instance's identity in the store. */
  readonly instanceId: string
  /** Announce this instance (and the URL peers forward requests to) and keep it alive until stop(). */
  start (): Promise<void>
  /** Stop announcing; sessions still owned are released for others to take over. */
  stop (): Promise<void>

  /**
   * A new session owned by this instance. Its messages will have ids from
   * `base + 1` on (WebChannel: 0, the `c` array; WebSocket resume: 1).
   */
  create (sid: string, principal: unknown, principalKey: string, base?: number): void
  /** A server→client array, written before it can be acknowledged. */
  append (sid: string, id: number, payload: string): void
  /** The client acknowledged arrays up to `id`. */
  ack (sid: string, id: number): void
  /** Every forward map below `next` was delivered; resolves once stored (a POST is answered after it). */
  delivered (sid: string, next: number): Promise<void>
  join (sid: string, channel: string): void
  leave (sid: string, channel: string): void
  /** Keep an idle session's record alive (its owner is serving it). */
  touch (sid: string): void
  /** The session ended: forget it. */
  remove (sid: string): void
  /** Give sessions up for another instance to take over at its next request (graceful shutdown). */
  release (sids: readonly string[]): Promise<void>

  /**
   * For a session this instance does not hold: relay to its live owner, or
   * take it over. `unreachable`: the owner the caller just failed to reach,
   * treated as gone.
   */
  route (sid: string, principalKey: string, unreachable?: string): Promise<Route>
}
