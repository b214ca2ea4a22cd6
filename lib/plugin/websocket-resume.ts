import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpRefusal } from '../errors.js'
import type { Hub } from '../hub/hub.js'
import type { ResolvedOptions } from '../options.js'
import { principalKey } from '../session/principal.js'
import type { SessionStore, StoredSession } from '../store/session-store.js'
import { ResumableTransport, type ResumeOptions, type ResumeStore } from '../transports/websocket/resumable.js'
import type { WsConnection } from '../transports/websocket/ws-connection.js'
import { sendRefusal } from './refusal.js'
import { RELAY_HEADER, type Relay } from './relay.js'

/** What `?resume=<id>&seq=<n>` found: the session here, or taken over from the store. */
export type ResumePlan =
  | { kind: 'local', transport: ResumableTransport, after: number }
  | { kind: 'stored', stored: StoredSession, after: number }

/**
 * Where a WebSocket client that comes back finds its session: on this
 * instance; or, with a session store, at the instance that held it, which is
 * asked to let go (or is gone), so that this one continues it from the store.
 */
export class WebSocketResume {
  private readonly hub: Hub
  private readonly opts: ResolvedOptions
  private readonly store: SessionStore | null
  private readonly relay: Relay | null
  private readonly path: string
  readonly options: ResumeOptions

  constructor (hub: Hub, opts: ResolvedOptions, resume: ResumeOptions, path: string, store: SessionStore | null, relay: Relay | null) {
    this.hub = hub
    this.opts = opts
    this.options = resume
    this.path = path
    this.store = store
    this.relay = relay
  }

  /** The store's view of a new session's principal, or null without a store. */
  persistFor (principal: unknown): ResumeStore | null {
    return this.store === null ? null : { store: this.store, principal, principalKey: principalKey(principal) ?? '' }
  }

  async plan (request: FastifyRequest): Promise<ResumePlan | null> {
    const q = request.query as { resume?: unknown, seq?: unknown }
    if (typeof q.resume !== 'string' || q.resume.length < 16 || typeof q.seq !== 'string') return null
    const id = q.resume
    const after = Number(q.seq)
    if (!Number.isSafeInteger(after) || after < 0) return null
    const principal = this.opts.principal(request)
    const session = this.hub.get(id)
    if (session !== undefined) {
      if (!(session.transport instanceof ResumableTransport) || !this.opts.samePrincipal(session.principal, principal)) return null
      return { kind: 'local', transport: session.transport, after }
    }
    if (this.store === null || this.relay === null || this.hub.closing) return null
    return this.fromStore(request, id, principalKey(principal) ?? '', after)
  }

  private async fromStore (request: FastifyRequest, id: string, key: string, after: number): Promise<ResumePlan | null> {
    const store = this.store as SessionStore
    let unreachable: string | undefined
    // The owner lets go (or is gone) between tries.
    for (let attempt = 0; attempt < 3; attempt++) {
      const route = await store.route(id, key, unreachable)
      if (route.kind === 'unknown') return null
      if (route.kind === 'claimed') return { kind: 'stored', stored: route.session, after }
      const answer = await (this.relay as Relay).ask(request, route.url, `${this.path}?release=${encodeURIComponent(id)}`)
      if (answer === 'unreachable') unreachable = route.owner
      else if (answer !== 204) return null
    }
    return null
  }

  /** The client came back: its session continues on `conn` (here, or from the store); false: it gets a new one. */
  continueOn (plan: ResumePlan, conn: WsConnection, request: FastifyRequest): boolean {
    if (plan.kind === 'local') return plan.transport.resume(conn, plan.after)
    const { stored, after } = plan
    const principal = this.opts.principal(request)
    const transport = ResumableTransport.continue(conn, this.options, this.persistFor(principal) as ResumeStore, stored, after)
    if (transport === null) {
      // It missed more than was kept: the stored session is of no use to anyone.
      this.store?.remove(stored.sid)
      return false
    }
    this.hub.open({ transport, request, principal, subprotocol: null, resume: { id: stored.sid, channels: stored.channels } })
    request.log.info({ session: stored.sid.slice(0, 8) }, 'webchannel: websocket session resumed from the store')
    return true
  }

  /** The owner's side: another instance relayed `?release=<id>` for a client that came back there. */
  async release (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const id = (request.query as { release?: unknown }).release
    const session = typeof id === 'string' ? this.hub.get(id) : undefined
    if (request.headers[RELAY_HEADER] === undefined || session === undefined || !(session.transport instanceof ResumableTransport) ||
        !this.opts.samePrincipal(session.principal, this.opts.principal(request))) {
      return sendRefusal(reply.header(RELAY_HEADER, 'not-here'), HttpRefusal.NOT_OWNER)
    }
    await session.transport.handOff()
    return reply.code(204).send()
  }
}
