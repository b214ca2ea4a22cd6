import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpRefusal, refusal } from '../errors.js'
import type { Hub } from '../hub/hub.js'
import type { WebChannelSessions } from '../transports/webchannel/sessions.js'
import { sendRefusal } from './refusal.js'
import { RELAY_HEADER, Relay } from './relay.js'
import { kRawBody } from './webchannel-body.js'

/**
 * With a session store, a request may name a session this instance does not
 * hold. Before the bind handler serves it, the session is found: here; or at
 * its owner, and the request is relayed there; or, the owner gone, taken over
 * from the store and served here. Without a store nothing of this runs.
 */
export class SessionPlacement {
  private readonly hub: Hub
  private readonly sessions: WebChannelSessions
  private readonly principalOf: (request: FastifyRequest) => unknown
  readonly relay: Relay

  constructor (hub: Hub, sessions: WebChannelSessions, principalOf: (request: FastifyRequest) => unknown, instanceId: string) {
    this.hub = hub
    this.sessions = sessions
    this.principalOf = principalOf
    this.relay = new Relay(instanceId)
  }

  /** null: serve the request here (the session is local, or unknown everywhere); else the reply already given. */
  async place (request: FastifyRequest, reply: FastifyReply, sid: string): Promise<FastifyReply | null> {
    const principal = this.principalOf(request)
    if (this.sessions.lookup(sid, principal) !== null) return null
    if (request.headers[RELAY_HEADER] !== undefined) return this.notHere(request, reply)
    // Shutting down: another instance will continue the session; the proxy or the client retries there.
    if (this.hub.closing) return sendRefusal(reply, HttpRefusal.SHUTTING_DOWN)
    let unreachable: string | undefined
    // A relay can miss twice at most: the owner handed the session off, then a successor's first try races ours.
    for (let attempt = 0; attempt < 3; attempt++) {
      const found = await this.sessions.locate({
        sid,
        principal,
        log: request.log,
        unreachable,
        resume: (conn, stored) => {
          this.hub.open({ transport: conn, request, principal, subprotocol: null, resume: { id: stored.sid, channels: stored.channels } })
        },
      })
      if (found.kind !== 'relay') return null
      const body = (request as FastifyRequest & { [kRawBody]?: string })[kRawBody] ?? null
      const outcome = await this.relay.forward(request, reply, found.url, request.method === 'POST' ? body ?? '' : null)
      if (outcome === 'done') return reply
      if (outcome === 'unreachable') {
        request.log.warn({ session: sid.slice(0, 8), owner: found.owner }, 'webchannel: session owner unreachable; taking the session over')
        unreachable = found.owner
      }
    }
    return null
  }

  /**
   * Relayed here, but the session is not here (handed off, or ended): the
   * relaying instance asks the store again. Counted as a miss, as an unknown SID is.
   */
  private notHere (request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const wait = this.hub.limits.unknownSid(request.ip)
    if (wait > 0) return sendRefusal(reply, refusal(HttpRefusal.RATE_LIMITED, 'Too many requests for unknown sessions', wait))
    reply.header(RELAY_HEADER, 'not-here')
    return sendRefusal(reply, HttpRefusal.NOT_OWNER)
  }
}
