import type { IncomingMessage, ServerResponse } from 'node:http'
import { STATUS_CODES } from 'node:http'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { asciiJson, encodeArrays, frame } from '../codecs/webchannel-framing.js'
import { MAX_MAPS, parseForm, parseForwardBody, parseHeaderBlock, type ForwardBody } from '../codecs/webchannel-maps.js'
import { QueryError, classifyBind, type BindQuery, type BindRequest } from '../codecs/webchannel-query.js'
import { CloseCode, FST_WEBCHANNEL_BODY_TOO_LARGE, FST_WEBCHANNEL_INVALID_REQUEST, FST_WEBCHANNEL_ORIGIN_FORBIDDEN } from '../errors.js'
import type { Hub } from '../hub/hub.js'
import type { ResolvedOptions } from '../options.js'
import { NO_CACHE_HEADERS } from '../transports/webchannel/back-channel.js'
import { WebChannelConnection } from '../transports/webchannel/connection.js'
import { originAllowed } from './origin.js'

// The WebChannel v8 routes: the bind handler at `{prefix}` (every request of
// the WebChannel client) and `{prefix}/bind` (legacy BrowserChannel), and the
// stateless legacy test handler at `{prefix}/test`. Each runs through the
// app's Fastify hooks; then origin, schema and session checks, in that order,
// before any session state is touched.

const kCors = Symbol('webchannel.cors')
type CorsRequest = FastifyRequest & { [kCors]?: Record<string, string> }

/** What the client recognises as UNKNOWN_SESSION_ID: "Unknown SID" after index 0. */
export const UNKNOWN_SID_BODY = '<html><body><h1>Unknown SID</h1></body></html>'

// The client reads these three response headers; cross-origin they must be exposed.
const EXPOSED_HEADERS = 'X-HTTP-Session-Id, X-Client-Wire-Protocol, X-HTTP-Initial-Response'

const uint = '^(0|[1-9][0-9]{0,14})$'
const BindQuerySchema = Type.Object({
  VER: Type.Literal('8'),
  RID: Type.Optional(Type.String({ pattern: '^(rpc|0|[1-9][0-9]{0,14})$' })),
  AID: Type.Optional(Type.String({ pattern: '^(-1|0|[1-9][0-9]{0,14})$' })),
  SID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
  CI: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')])),
  TYPE: Type.Optional(Type.Union([Type.Literal('xmlhttp'), Type.Literal('terminate'), Type.Literal('html'), Type.Literal('init')])),
  TO: Type.Optional(Type.String({ pattern: uint })),
  CVER: Type.Optional(Type.String({ maxLength: 16 })),
  OSID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
  OAID: Type.Optional(Type.String({ pattern: '^(-1|0|[1-9][0-9]{0,14})$' })),
  'X-HTTP-Session-Id': Type.Optional(Type.String({ maxLength: 64 })),
  $req: Type.Optional(Type.String()),
  $httpHeaders: Type.Optional(Type.String({ maxLength: 16384 })),
})

// The forward body as the body parser decodes it (`count=N&ofs=K&reqI_key=…`
// → maps with their ids): the form grammar itself (duplicates, indexes within
// count, unknown fields) is enforced by that parser, in one pass.
const ForwardMapSchema = Type.Union([
  Type.Object({ id: Type.Integer({ minimum: 0 }), kind: Type.Literal('data'), data: Type.String() }),
  Type.Object({ id: Type.Integer({ minimum: 0 }), kind: Type.Literal('map'), data: Type.Record(Type.String(), Type.String()) }),
  Type.Object({ id: Type.Integer({ minimum: 0 }), kind: Type.Literal('bad') }),
])
const ForwardBodySchema = Type.Union([
  Type.Null(),
  Type.Object({
    count: Type.Integer({ minimum: 0, maximum: MAX_MAPS }),
    ofs: Type.Integer({ minimum: 0 }),
    headers: Type.Union([Type.String({ maxLength: 16384 }), Type.Null()]),
    maps: Type.Array(ForwardMapSchema, { maxItems: MAX_MAPS }),
  }),
])
const NO_MAPS: ForwardBody = Object.freeze({ count: 0, ofs: 0, maps: [], headers: null }) as ForwardBody

const TestQuerySchema = Type.Object({
  VER: Type.Literal('8'),
  MODE: Type.Optional(Type.Literal('init')),
  TYPE: Type.Optional(Type.Literal('xmlhttp')),
  DOMAIN: Type.Optional(Type.String({ maxLength: 256 })),
})

type HookDone = (err?: Error) => void

interface Refusal { statusCode: number, code: string, message: string }

function sendError (reply: FastifyReply, e: Refusal): FastifyReply {
  return reply.code(e.statusCode).type('application/json; charset=utf-8').send({
    statusCode: e.statusCode,
    code: e.code,
    error: STATUS_CODES[e.statusCode] ?? 'Error',
    message: e.message,
  })
}

function invalid (message: string): Refusal {
  const e = new FST_WEBCHANNEL_INVALID_REQUEST(message)
  return { statusCode: 400, code: e.code, message: e.message }
}

function unknownSid (reply: FastifyReply): FastifyReply {
  return reply.code(400).headers(NO_CACHE_HEADERS).type('text/html; charset=utf-8').send(UNKNOWN_SID_BODY)
}

/** Accept-Encoding names gzip (or *) with a non-zero q. */
export function acceptsGzip (header: string | undefined): boolean {
  if (header === undefined) return false
  for (const part of header.split(',')) {
    const [name, ...params] = part.split(';').map(s => s.trim().toLowerCase())
    if (name !== 'gzip' && name !== '*') continue
    const q = params.find(p => p.startsWith('q='))
    if (q === undefined || Number(q.slice(2)) > 0) return true
  }
  return false
}

/** Body parser for the channel routes: form text, capped before buffering. */
function bodyParser (maxBodySize: number) {
  return function parse (request: FastifyRequest, payload: IncomingMessage, done: (err: Error | null, body?: unknown) => void): void {
    const declared = Number(request.headers['content-length'])
    if (Number.isFinite(declared) && declared > maxBodySize) {
      done(new FST_WEBCHANNEL_BODY_TOO_LARGE(maxBodySize))
      payload.resume()
      return
    }
    const chunks: Buffer[] = []
    let size = 0
    // The handshake's IncomingMessage lives as long as its session
    // (Session.request): listeners left on it would keep this parse's
    // closures, and through `done` the handshake's Reply, alive too.
    const finish = (err: Error | null, body?: unknown): void => {
      payload.off('data', onData)
      payload.off('error', onError)
      payload.off('end', onEnd)
      chunks.length = 0
      done(err, body)
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > maxBodySize) {
        finish(new FST_WEBCHANNEL_BODY_TOO_LARGE(maxBodySize))
        // Drain the rest without keeping it.
        payload.resume()
        return
      }
      chunks.push(chunk)
    }
    const onError = (err: Error): void => finish(err)
    const onEnd = (): void => {
      const text = chunks.length === 1 ? chunks[0].toString('utf8') : Buffer.concat(chunks).toString('utf8')
      let body: ForwardBody | null
      try {
        body = text === '' ? null : parseForwardBody(text)
      } catch (err) {
        finish(new FST_WEBCHANNEL_INVALID_REQUEST((err as Error).message))
        return
      }
      finish(null, body)
    }
    payload.on('data', onData)
    payload.on('error', onError)
    payload.on('end', onEnd)
  }
}

/** Merge client-encoded headers (allow-listed) into the request; real headers win. */
function mergeHeaders (request: FastifyRequest, block: string, allowed: readonly string[]): void {
  const extra = parseHeaderBlock(block, allowed)
  for (const [name, value] of Object.entries(extra)) {
    if (request.headers[name] === undefined) request.headers[name] = value
  }
}

function corsHeadersFor (request: FastifyRequest, opts: ResolvedOptions): Record<string, string> | null {
  const cors = opts.webchannel.cors
  const origin = request.headers.origin
  if (cors === false || origin === undefined) return null
  const list = Array.isArray(cors.origin) ? cors.origin : [cors.origin]
  if (!list.includes(origin)) return null
  const h: Record<string, string> = {
    'access-control-allow-origin': origin,
    'access-control-expose-headers': EXPOSED_HEADERS,
    vary: 'Origin',
  }
  if (cors.credentials === true) h['access-control-allow-credentials'] = 'true'
  return h
}

/**
 * Register the WebChannel routes on the plugin's instance. They live in a
 * child context so their body parser (form text with a size cap) does not
 * touch the app's, while the app's hooks still run on them.
 */
export async function registerWebChannelRoutes (fastify: FastifyInstance, hub: Hub): Promise<void> {
  const opts = hub.options
  const wc = opts.webchannel
  const base = opts.prefix === '/' ? '' : opts.prefix
  const registry = new Map<string, WebChannelConnection>()
  const testStreams = new Set<{ res: ServerResponse, timer: NodeJS.Timeout }>()

  const forget = (conn: WebChannelConnection): void => {
    const s = conn.sessionRef
    if (s !== null && registry.get(s.id) === conn) registry.delete(s.id)
  }

  /** The connection for a SID, only for the principal that opened it: anyone else learns nothing. */
  const lookup = (sid: string, request: FastifyRequest): WebChannelConnection | null => {
    const conn = registry.get(sid)
    if (conn === undefined) return null
    const session = conn.sessionRef
    if (session === null || !hub.samePrincipal(session, request)) return null
    return conn
  }

  hub.onClose(async () => {
    // End every back channel with `close`, then forget what has no GET to carry it.
    const carried: Array<Promise<void>> = []
    for (const conn of [...registry.values()]) {
      const done = conn.shutdown(opts.closeCode, opts.closeReason)
      if (done !== undefined) carried.push(done)
    }
    for (const conn of [...registry.values()]) conn.free()
    for (const t of testStreams) {
      clearTimeout(t.timer)
      t.res.once('finish', () => t.res.socket?.destroy())
      t.res.end()
    }
    testStreams.clear()
    // A gzipped back channel ends asynchronously: once this step returns, the
    // server closes and cuts what is still unsent, and the client would see a
    // broken stream (and retry for seconds) instead of `close`. The hub bounds the wait.
    await Promise.all(carried)
  })

  // ---- request kinds -----------------------------------------------------

  const openSession = async (request: FastifyRequest, body: ForwardBody, sticky: string | null): Promise<{ conn: WebChannelConnection, arrays: ReturnType<WebChannelConnection['takeHandshakeArrays']>, headers: Record<string, string> } | Refusal> => {
    const refusal = hub.admit(request)
    if (refusal !== null) return refusal
    const conn = new WebChannelConnection(wc, request.log, forget)
    const session = hub.open({ transport: conn, request, subprotocol: null })
    conn.attach(session)
    if (conn.state !== 'closed') registry.set(session.id, conn)
    // Messages sent with open() ride in the handshake body: deliver them before replying.
    const outcome = await conn.submit(body.maps)
    if (outcome === 'retry' && conn.state === 'handshaking') {
      // The handshake is never retried, so a refused map cannot be resent: stop the channel.
      request.log.warn({ session: session.id }, 'webchannel: a handshake message was refused; stopping the session')
      conn.close(CloseCode.INTERNAL_ERROR, 'Handshake message refused', 'error')
    }
    const headers: Record<string, string> = {}
    // Sticky routing: the client adds `<name>=<value>` to every later URL.
    if (sticky !== null) headers['x-http-session-id'] = session.id
    return { conn, arrays: conn.takeHandshakeArrays(), headers }
  }

  const handshake = async (request: CorsRequest, reply: FastifyReply, req: Extract<BindRequest, { kind: 'handshake' }>, body: ForwardBody) => {
    // Legacy BrowserChannel reconnect: the old session's last array is acked and it is closed.
    if (req.oldSid !== null) {
      const old = lookup(req.oldSid, request)
      if (old !== null) {
        old.ack(req.oldAid)
        await old.terminate()
      }
    }
    const r = await openSession(request, body, req.sessionIdParam)
    if ('statusCode' in r) return sendError(reply, r)
    return reply.code(200).headers({ ...NO_CACHE_HEADERS, ...r.headers }).send(frame(encodeArrays(r.arrays)))
  }

  const fastHandshake = async (request: CorsRequest, reply: FastifyReply, req: Extract<BindRequest, { kind: 'fast-handshake' }>) => {
    let body: ForwardBody
    try {
      body = parseForwardBody(req.body)
    } catch (err) {
      return sendError(reply, invalid('$req: ' + (err as Error).message))
    }
    const r = await openSession(request, body, req.sessionIdParam)
    if ('statusCode' in r) return sendError(reply, r)
    // The c array travels bare in a header; the body is the first streaming back channel.
    const headers = { ...request[kCors], ...r.headers, 'x-http-initial-response': asciiJson(encodeArrays(r.arrays)) }
    reply.hijack()
    if (r.conn.state === 'closed') {
      reply.raw.writeHead(200, { ...NO_CACHE_HEADERS, ...headers }).end()
      return
    }
    r.conn.openBackChannel({
      res: reply.raw,
      streaming: true,
      gzip: wc.gzip && acceptsGzip(request.headers['accept-encoding']),
      aid: r.arrays.length > 0 ? r.arrays[r.arrays.length - 1].id : null,
      timeout: null,
      headers,
    })
  }

  const forward = async (request: FastifyRequest, reply: FastifyReply, req: Extract<BindRequest, { kind: 'forward' }>, body: ForwardBody) => {
    const conn = lookup(req.sid, request)
    if (conn === null) return unknownSid(reply)
    conn.ack(req.aid)
    const outcome = await conn.submit(body.maps)
    if (outcome === 'retry') {
      // Not acknowledged: a network error makes the client resend the same
      // RID and maps; the ones already delivered are skipped then.
      reply.hijack()
      request.raw.socket.destroy()
      return
    }
    return reply.code(200).headers(NO_CACHE_HEADERS).send(frame(JSON.stringify(conn.status())))
  }

  const backChannel = (request: CorsRequest, reply: FastifyReply, req: Extract<BindRequest, { kind: 'back-channel' }>) => {
    const conn = lookup(req.sid, request)
    if (conn === null) return unknownSid(reply)
    reply.hijack()
    conn.openBackChannel({
      res: reply.raw,
      streaming: req.streaming,
      gzip: wc.gzip && acceptsGzip(request.headers['accept-encoding']),
      aid: req.aid,
      timeout: req.timeout,
      headers: request[kCors] ?? {},
    })
  }

  const terminate = async (request: FastifyRequest, reply: FastifyReply, req: Extract<BindRequest, { kind: 'terminate' }>) => {
    // Unknown (or foreign) SIDs are ignored: the beacon's answer is never read.
    const conn = lookup(req.sid, request)
    if (conn !== null) await conn.terminate()
    return reply.code(200).headers(NO_CACHE_HEADERS).send('')
  }

  // ---- handlers ----------------------------------------------------------

  const bind = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.validationError !== undefined) return sendError(reply, invalid(request.validationError.message))
    let req: BindRequest
    try {
      req = classifyBind(request.method, request.query as BindQuery)
    } catch (err) {
      if (err instanceof QueryError) return sendError(reply, invalid(err.message))
      throw err
    }
    const body = req.kind === 'handshake' || req.kind === 'forward' ? (request.body as ForwardBody | null | undefined) ?? NO_MAPS : NO_MAPS
    switch (req.kind) {
      case 'handshake': return handshake(request, reply, req, body)
      case 'fast-handshake': return fastHandshake(request, reply, req)
      case 'forward': return forward(request, reply, req, body)
      case 'back-channel': return backChannel(request, reply, req)
      case 'terminate': return terminate(request, reply, req)
    }
  }

  const test = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.validationError !== undefined) return sendError(reply, invalid(request.validationError.message))
    const q = request.query as Record<string, string | undefined>
    if (q.MODE === 'init') {
      // [hostPrefix, blockedPrefix]: no prefixes; bare JSON, not framed.
      return reply.code(200).headers(NO_CACHE_HEADERS).send('[null,null]')
    }
    if (q.TYPE !== 'xmlhttp') return sendError(reply, invalid('the test handler needs MODE=init or TYPE=xmlhttp'))
    // `11111` now and `2` later: a client that sees `11111` alone can stream.
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { ...NO_CACHE_HEADERS, ...(request as CorsRequest)[kCors] })
    res.write('11111')
    const entry = {
      res,
      timer: setTimeout(() => {
        testStreams.delete(entry)
        res.end('2')
      }, 2000),
    }
    testStreams.add(entry)
    res.once('close', () => {
      clearTimeout(entry.timer)
      testStreams.delete(entry)
    })
  }

  // ---- the routes --------------------------------------------------------

  await fastify.register(async function webchannelRoutes (child) {
    child.removeAllContentTypeParsers()
    child.addContentTypeParser('*', bodyParser(wc.maxBodySize))

    // Callback-style hooks: these run on every forward POST and back-channel
    // GET, and an async hook costs a promise and a microtask hop each.
    // Replying from a callback hook means not calling done.
    const onRequest = (request: CorsRequest, reply: FastifyReply, done: HookDone) => {
      const cors = corsHeadersFor(request, opts)
      if (cors === null && !originAllowed(request, opts.origin)) {
        const e = new FST_WEBCHANNEL_ORIGIN_FORBIDDEN()
        sendError(reply, { statusCode: 403, code: e.code, message: e.message })
        return
      }
      if (cors !== null) {
        request[kCors] = cors
        reply.headers(cors)
      }
      // Headers the client packed into the URL ($httpHeaders) or the fast
      // handshake's $req, allow-listed. Hooks from preValidation on see them.
      const q = request.query as Record<string, unknown>
      try {
        if (typeof q.$httpHeaders === 'string') mergeHeaders(request, q.$httpHeaders, wc.allowedHeaders)
        if (typeof q.$req === 'string' && q.$req.includes('headers=')) {
          const h = parseForm(q.$req).get('headers')
          if (h !== undefined) mergeHeaders(request, h, wc.allowedHeaders)
        }
      } catch (err) {
        sendError(reply, invalid((err as Error).message))
        return
      }
      done()
    }

    // The handshake's encoded init headers (encodeInitMessageHeaders) count as request headers.
    const preValidation = (request: FastifyRequest, reply: FastifyReply, done: HookDone) => {
      const body = request.body as ForwardBody | null | undefined
      if (body !== null && body !== undefined && typeof body.headers === 'string') {
        try {
          mergeHeaders(request, body.headers, wc.allowedHeaders)
        } catch (err) {
          sendError(reply, invalid((err as Error).message))
          return
        }
      }
      done()
    }

    // A request that began before app.close() and ends after Fastify closed idle
    // connections would hold its keep-alive socket (and close()) open for
    // keepAliveTimeout: ask the client to drop it.
    const onSend = (_request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) => {
      if (hub.closing) reply.header('connection', 'close')
      done(null, payload)
    }

    // compress: false — @fastify/compress would buffer the stream; the back channel gzips itself.
    const config = { compress: false }
    for (const url of [opts.prefix, base + '/bind']) {
      const post = {
        method: 'POST' as const,
        url,
        compress: false as const,
        config,
        attachValidation: true,
        schema: { querystring: BindQuerySchema, body: ForwardBodySchema },
        onRequest,
        preValidation,
        onSend,
        handler: bind,
      }
      child.route(post)
      const get = { ...post, method: 'GET' as const, schema: { querystring: BindQuerySchema } }
      child.route(get)
    }
    const testRoute = {
      method: 'GET' as const,
      url: base + '/test',
      compress: false as const,
      config,
      attachValidation: true,
      schema: { querystring: TestQuerySchema },
      onRequest,
      onSend,
      handler: test,
    }
    child.route(testRoute)

    if (wc.cors !== false) {
      for (const url of [opts.prefix, base + '/bind', base + '/test']) {
        child.options(url, { config }, async (request, reply) => {
          const cors = corsHeadersFor(request, opts)
          if (cors === null) {
            const e = new FST_WEBCHANNEL_ORIGIN_FORBIDDEN()
            return sendError(reply, { statusCode: 403, code: e.code, message: e.message })
          }
          const asked = request.headers['access-control-request-headers']
          return reply.code(204).headers({
            ...cors,
            'access-control-allow-methods': 'GET, POST',
            ...(typeof asked === 'string' ? { 'access-control-allow-headers': asked } : {}),
            'access-control-max-age': '600',
          }).send()
        })
      }
    }
  })
}
