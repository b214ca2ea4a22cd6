import type { FastifyReply, FastifyRequest } from 'fastify'
import { asciiJson, encodeArrays, frame } from '../codecs/webchannel-framing.js'
import { parseForwardBody, type ForwardBody } from '../codecs/webchannel-maps.js'
import { QueryError, classifyBind, type BindQuery, type BindRequest } from '../codecs/webchannel-query.js'
import { HttpRefusal, refusal, type Refusal } from '../errors.js'
import type { Hub } from '../hub/hub.js'
import type { ResolvedOptions } from '../options.js'
import { NO_CACHE_HEADERS } from '../transports/webchannel/back-channel.js'
import type { WebChannelConnection } from '../transports/webchannel/connection.js'
import type { Handshake, WebChannelSessions } from '../transports/webchannel/sessions.js'
import { sendRefusal, sendUnknownSid } from './refusal.js'
import type { SessionPlacement } from './session-placement.js'
import { acceptsGzip } from './webchannel-body.js'
import { NO_MAPS } from './webchannel-schemas.js'

type Kind<K extends BindRequest['kind']> = Extract<BindRequest, { kind: K }>

/** Response headers a hook decided for this request (CORS), kept for the hijacked back channel. */
export const kExtraHeaders = Symbol('webchannel.extraHeaders')
export type WcRequest = FastifyRequest & { [kExtraHeaders]?: Record<string, string> }

const invalid = (message: string) => refusal(HttpRefusal.INVALID_REQUEST, 'Invalid WebChannel request: ' + message)
const AID_AHEAD = invalid('AID is ahead of the last array sent')
const OVERFLOW = invalid('too many messages held out of order for this session')

/**
 * The bind route's handler: classify the request, hand it to the transport's
 * sessions, and map the outcome to a reply. Nothing here keeps state.
 */
export class BindHandler {
  private readonly hub: Hub
  private readonly opts: ResolvedOptions
  private readonly sessions: WebChannelSessions
  /** With a session store: finds (relays, takes over) sessions held elsewhere. */
  private readonly placement: SessionPlacement | null

  constructor (hub: Hub, opts: ResolvedOptions, sessions: WebChannelSessions, placement: SessionPlacement | null = null) {
    this.hub = hub
    this.opts = opts
    this.sessions = sessions
    this.placement = placement
  }

  /** The route handler. */
  readonly handle = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.validationError !== undefined) return sendRefusal(reply, invalid(request.validationError.message))
    let req: BindRequest
    try {
      req = classifyBind(request.method, request.query as BindQuery)
    } catch (err) {
      if (err instanceof QueryError) return sendRefusal(reply, invalid(err.message))
      throw err
    }
    const body = req.kind === 'handshake' || req.kind === 'forward' ? (request.body as ForwardBody | null | undefined) ?? NO_MAPS : NO_MAPS
    if (this.placement !== null && 'sid' in req) {
      const answered = await this.placement.place(request, reply, req.sid)
      if (answered !== null) return answered
    }
    switch (req.kind) {
      case 'handshake': return this.handshake(request, reply, req, body)
      case 'fast-handshake': return this.fastHandshake(request, reply, req)
      case 'forward': return this.forward(request, reply, req, body)
      case 'back-channel': return this.backChannel(request, reply, req)
      case 'terminate': return this.terminate(request, reply, req)
    }
  }

  private principalOf (request: FastifyRequest): unknown {
    return this.opts.principal(request)
  }

  private gzipFor (request: FastifyRequest): boolean {
    return this.opts.webchannel.gzip && acceptsGzip(request.headers['accept-encoding'])
  }

  /** Admission, then a session on a new connection, then the handshake's own messages. */
  private open (request: FastifyRequest, body: ForwardBody, old: { sid: string | null, aid: number | null }): Promise<Handshake | Refusal> {
    const principal = this.principalOf(request)
    return this.sessions.handshake({
      principal,
      log: request.log,
      maps: body.maps,
      oldSid: old.sid,
      oldAid: old.aid,
      open: (conn) => {
        const refused = this.hub.admit(principal, request.ip)
        if (refused !== null) return refused
        this.hub.open({ transport: conn, request, principal, subprotocol: null })
        return null
      },
    })
  }

  private async handshake (request: WcRequest, reply: FastifyReply, req: Kind<'handshake'>, body: ForwardBody) {
    const r = await this.open(request, body, { sid: req.oldSid, aid: req.oldAid })
    if ('statusCode' in r) return sendRefusal(reply, r)
    return reply.code(200).headers({ ...NO_CACHE_HEADERS, ...stickyHeader(req.sessionIdParam, r.conn) }).send(frame(encodeArrays(r.arrays)))
  }

  private async fastHandshake (request: WcRequest, reply: FastifyReply, req: Kind<'fast-handshake'>) {
    let body: ForwardBody
    try {
      body = parseForwardBody(req.body)
    } catch (err) {
      return sendRefusal(reply, invalid('$req: ' + (err as Error).message))
    }
    const r = await this.open(request, body, { sid: null, aid: null })
    if ('statusCode' in r) return sendRefusal(reply, r)
    // The c array travels bare in a header; the body is the first streaming back channel.
    const headers = { ...request[kExtraHeaders], ...stickyHeader(req.sessionIdParam, r.conn), 'x-http-initial-response': asciiJson(encodeArrays(r.arrays)) }
    reply.hijack()
    if (r.conn.state === 'closed') {
      reply.raw.writeHead(200, { ...NO_CACHE_HEADERS, ...headers }).end()
      return
    }
    const aid = r.arrays.length > 0 ? r.arrays[r.arrays.length - 1].id : null
    r.conn.openBackChannel({ res: reply.raw, streaming: true, gzip: this.gzipFor(request), aid, timeout: null, headers })
  }

  private async forward (request: FastifyRequest, reply: FastifyReply, req: Kind<'forward'>, body: ForwardBody) {
    const r = await this.sessions.forward(req.sid, this.principalOf(request), req.aid, body.maps)
    if (r === 'unknown-sid') return this.unknownSid(request, reply)
    if (r === 'aid-ahead') return sendRefusal(reply, AID_AHEAD)
    if (r === 'overflow') return sendRefusal(reply, OVERFLOW)
    if (typeof r === 'object' && 'retryAfter' in r) return sendRefusal(reply, refusal(HttpRefusal.RATE_LIMITED, 'Too many messages', r.retryAfter))
    // Not acknowledged, as an HTTP answer a proxy passes on (a dropped
    // connection becomes a 502 there): the client resends the same RID and
    // maps, and the ones already delivered are skipped.
    if (r === 'retry') return sendRefusal(reply.header('retry-after', '1'), HttpRefusal.NOT_ACCEPTED)
    return reply.code(200).headers(NO_CACHE_HEADERS).send(frame(JSON.stringify(r)))
  }

  private backChannel (request: WcRequest, reply: FastifyReply, req: Kind<'back-channel'>) {
    const conn = this.sessions.backChannel(req.sid, this.principalOf(request), req.aid)
    if (conn === 'unknown-sid') return this.unknownSid(request, reply)
    if (conn === 'aid-ahead') return sendRefusal(reply, AID_AHEAD)
    // A long poll on a route @fastify/compress handles is answered through
    // Fastify's reply, so the app's compression settings apply to it; every
    // other back channel is written to the socket (and gzipped) by the transport.
    const viaReply = !req.streaming && typeof (reply as { compress?: unknown }).compress === 'function'
    if (!viaReply) reply.hijack()
    conn.openBackChannel({
      res: reply.raw,
      streaming: req.streaming,
      gzip: !viaReply && this.gzipFor(request),
      aid: req.aid,
      timeout: req.timeout,
      headers: request[kExtraHeaders] ?? {},
      send: viaReply ? (body) => { reply.send(body) } : undefined,
    })
    // Fastify waits for reply.send when the handler's promise resolves to the reply.
    return viaReply ? reply : undefined
  }

  /** Unknown SID, unless this IP names unknown SIDs too fast (guessing): then 429. */
  private unknownSid (request: FastifyRequest, reply: FastifyReply) {
    const wait = this.hub.limits.unknownSid(request.ip)
    if (wait > 0) return sendRefusal(reply, refusal(HttpRefusal.RATE_LIMITED, 'Too many requests for unknown sessions', wait))
    return sendUnknownSid(reply)
  }

  private async terminate (request: FastifyRequest, reply: FastifyReply, req: Kind<'terminate'>) {
    await this.sessions.terminate(req.sid, this.principalOf(request))
    return reply.code(200).headers(NO_CACHE_HEADERS).send('')
  }
}

/** Sticky routing: the client adds `<name>=<SID>` to every later URL. */
function stickyHeader (name: string | null, conn: WebChannelConnection): Record<string, string> {
  return name !== null && conn.id !== null ? { 'x-http-session-id': conn.id } : {}
}
