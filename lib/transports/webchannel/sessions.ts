import type { FastifyBaseLogger } from 'fastify'
import type { WireArray } from '../../codecs/webchannel-framing.js'
import type { ForwardMap } from '../../codecs/webchannel-maps.js'
import { CloseCode, type Refusal } from '../../errors.js'
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

  constructor (opts: ConnectionOptions, samePrincipal: (a: unknown, b: unknown) => boolean, registry: SessionRegistry = new MemoryRegistry()) {
    this.opts = opts
    this.samePrincipal = samePrincipal
    this.registry = registry
  }

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
    if (sid !== null && conn.state !== 'closed') this.registry.set(sid, conn)
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
    return conn.status()
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
