import type { FastifyBaseLogger } from 'fastify'
import type { WireArray } from '../../codecs/webchannel-framing.js'
import type { ForwardMap } from '../../codecs/webchannel-maps.js'
import { CloseCode, type Refusal } from '../../errors.js'
import type { SessionStore, StoredSession } from '../../store/session-store.js'
import { WebChannelConnection, type BackChannelRequest, type ConnectionOptions, type ForwardStatus } from './connection.js'
import { MemoryRegistry, type SessionRegistry } from './session-registry.js'

export interface HandshakeInit {
  /** Who opens the session: later requests must come from the same principal. */
  principal: unknown
  log: FastifyBaseLogger
  /** Messages sent with open(), carried by the handshake body. */
  maps: readonly ForwardMap[]
  /** Legacy BrowserChannel reconnect: the session it replaces, and its last acknowledged array. */
  oldSid: string | null
  oldAid: number | null
  /** Admit and open a session on the connection (attached before onConnection runs); a refusal opens none. */
  open: (conn: WebChannelConnection) => Refusal | null
}

export interface Handshake {
  conn: WebChannelConnection
  /** `c` and whatever was queued while the handshake's messages were delivered. */
  arrays: WireArray[]
}

/** A shared session store, and how the transport names a principal in it (principalKey). */
export interface StoreBinding {
  store: SessionStore
  keyOf: (principal: unknown) => string | null
  /** How long a POST's answer waits for its forward position to be stored (ms). */
  writeTimeout: number
}

/** Where a request for a SID is served: here, at the owner `url`, or nowhere. */
export type Located =
  | { kind: 'local', conn: WebChannelConnection }
  | { kind: 'relay', owner: string, url: string }
  | { kind: 'unknown' }

export interface LocateInit {
  sid: string
  principal: unknown
  log: FastifyBaseLogger
  /** The owner the caller just failed to reach: taken as gone. */
  unreachable?: string
  /** Open a session on a connection that continues a stored one (before any request is served on it). */
  resume: (conn: WebChannelConnection, stored: StoredSession) => void
}

/** How a forward POST or back-channel GET ends, for the route to answer. */
export type Refused = 'unknown-sid' | 'aid-ahead' | 'overflow'
export type ForwardResult = ForwardStatus | Refused | 'retry' | { retryAfter: number }

/**
 * The WebChannel transport's sessions: the handshake, forward and
 * back-channel requests of every session, found by SID in the registry and
 * honoured only for the principal that opened them. Plain methods in, plain
 * outcomes out; the routes map those to HTTP.
 */
export class WebChannelSessions {
  private readonly opts: ConnectionOptions
  private readonly samePrincipal: (a: unknown, b: unknown) => boolean
  private readonly registry: SessionRegistry
  private readonly binding: StoreBinding | null
  /** Takeovers under way, so that concurrent requests of one session continue it once. */
  private readonly locating = new Map<string, Promise<Located>>()

  constructor (opts: ConnectionOptions, samePrincipal: (a: unknown, b: unknown) => boolean, binding: StoreBinding | null = null, registry: SessionRegistry = new MemoryRegistry()) {
    this.opts = opts
    this.samePrincipal = samePrincipal
    this.binding = binding
    this.registry = registry
  }

  /** Sessions outlive this instance (a shared store is configured). */
  get shared (): boolean { return this.binding !== null }

  get size (): number { return this.registry.size }

  /** The connection for a SID, only for the principal that opened it: anyone else learns nothing. */
  lookup (sid: string, principal: unknown): WebChannelConnection | null {
    const conn = this.registry.get(sid)
    if (conn === undefined || !this.samePrincipal(conn.principal, principal)) return null
    return conn
  }

  async handshake (init: HandshakeInit): Promise<Handshake | Refusal> {
    if (init.oldSid !== null) {
      // The old session's last array is acknowledged and it is closed.
      const old = this.lookup(init.oldSid, init.principal)
      if (old !== null) {
        old.ack(init.oldAid)
        await old.terminate()
      }
    }
    const conn = new WebChannelConnection(this.opts, init.log, init.principal, this.forget)
    const refused = init.open(conn)
    if (refused !== null) return refused
    const sid = conn.id
    if (sid !== null && conn.state !== 'closed') {
      this.registry.set(sid, conn)
      if (this.binding !== null) conn.persistTo(this.binding.store, this.binding.keyOf(init.principal) ?? '')
    }
    // Messages sent with open() ride in the handshake body: deliver them before replying.
    const outcome = await conn.submit(init.maps)
    if (outcome !== 'accepted' && conn.state === 'handshaking') {
      // The handshake is never retried, so a refused map cannot be resent: stop the channel.
      init.log.warn({ session: sid?.slice(0, 8) }, 'webchannel: a handshake message was refused; stopping the session')
      conn.close(CloseCode.INTERNAL_ERROR, 'Handshake message refused', 'error')
    }
    return { conn, arrays: conn.takeHandshakeArrays() }
  }

  /** A forward POST: acknowledge what the client has, then deliver its maps in order. */
  async forward (sid: string, principal: unknown, aid: number | null, maps: readonly ForwardMap[]): Promise<ForwardResult> {
    const conn = this.lookup(sid, principal)
    if (conn === null) return 'unknown-sid'
    if (aid !== null && aid > conn.lastSent) return 'aid-ahead'
    conn.ack(aid)
    // Over the session's message rate: nothing delivered, nothing acknowledged; the client resends later.
    const wait = conn.admit(maps)
    if (wait > 0) return { retryAfter: wait }
    const outcome = await conn.submit(maps)
    // Too much held out of order for this session: refused at once, nothing of it kept.
    if (outcome === 'overflow') return 'overflow'
    // Not acknowledged: the client resends the same maps; the ones already delivered are skipped.
    if (outcome !== 'accepted') return 'retry'
    if (this.binding !== null && conn.id !== null) await this.storePosition(this.binding, conn.id, conn.forward.delivered)
    return conn.status()
  }

  /**
   * A POST is answered once its position is stored, so a successor never
   * delivers its maps again. A store that does not answer in writeTimeout
   * (Redis down) does not hold the session up: it goes on from memory.
   */
  private async storePosition (b: StoreBinding, sid: string, next: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<void>(resolve => { timer = setTimeout(resolve, b.writeTimeout) })
    try {
      await Promise.race([b.store.delivered(sid, next).catch(() => {}), late])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * A request for a SID: served here if this instance holds the session; with
   * a store, relayed to the owner while it lives, or taken over from the
   * store when it is gone.
   */
  async locate (init: LocateInit): Promise<Located> {
    const local = this.lookup(init.sid, init.principal)
    if (local !== null) return { kind: 'local', conn: local }
    const b = this.binding
    if (b === null) return { kind: 'unknown' }
    let pending = this.locating.get(init.sid)
    if (pending === undefined) {
      pending = this.takeOver(b, init).finally(() => this.locating.delete(init.sid))
      this.locating.set(init.sid, pending)
    }
    const found = await pending
    // A concurrent request of another principal learns nothing.
    if (found.kind === 'local' && !this.samePrincipal(found.conn.principal, init.principal)) return { kind: 'unknown' }
    return found
  }

  private async takeOver (b: StoreBinding, init: LocateInit): Promise<Located> {
    const route = await b.store.route(init.sid, b.keyOf(init.principal) ?? '', init.unreachable)
    if (route.kind !== 'claimed') return route
    const conn = WebChannelConnection.resume(this.opts, init.log, route.session, b.store, this.forget)
    init.resume(conn, route.session)
    if (conn.state !== 'open') return { kind: 'unknown' }
    this.registry.set(init.sid, conn)
    init.log.info({ session: init.sid.slice(0, 8) }, 'webchannel: session taken over from the store')
    return { kind: 'local', conn }
  }

  /** A back-channel GET: the connection to hand the response to, or why not. */
  backChannel (sid: string, principal: unknown, aid: number | null): WebChannelConnection | 'unknown-sid' | 'aid-ahead' {
    const conn = this.lookup(sid, principal)
    if (conn === null) return 'unknown-sid'
    if (aid !== null && aid > conn.lastSent) return 'aid-ahead'
    return conn
  }

  /** The client ended its session. Unknown (or foreign) SIDs are ignored: the beacon's answer is never read. */
  async terminate (sid: string, principal: unknown): Promise<void> {
    const conn = this.lookup(sid, principal)
    if (conn !== null) await conn.terminate()
  }

  /** End every back channel with `close`, forget what has no GET to carry it; resolves once the closes are written. */
  async shutdown (code: number, reason: string): Promise<void> {
    if (this.binding !== null) {
      // Sessions move: each is released and its back channel ended without `close`.
      await Promise.all([...this.registry.values()].map(conn => conn.handOff()))
      await this.binding.store.stop()
      return
    }
    const carried: Array<Promise<void>> = []
    for (const conn of this.registry.values()) {
      const done = conn.shutdown(code, reason)
      if (done !== undefined) carried.push(done)
    }
    for (const conn of this.registry.values()) conn.free()
    // A gzipped back channel ends asynchronously: the server must not close
    // (and cut it) before the client has read its `close`.
    await Promise.all(carried)
  }

  private readonly forget = (conn: WebChannelConnection): void => {
    const sid = conn.id
    if (sid !== null) this.registry.delete(sid, conn)
  }
}

export type { BackChannelRequest }
