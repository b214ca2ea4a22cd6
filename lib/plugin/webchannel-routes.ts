import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { parseForm, type ForwardBody } from '../codecs/webchannel-maps.js'
import { HttpRefusal, refusal } from '../errors.js'
import type { Hub } from '../hub/hub.js'
import type { ResolvedOptions } from '../options.js'
import { NO_CACHE_HEADERS } from '../transports/webchannel/back-channel.js'
import { WebChannelSessions } from '../transports/webchannel/sessions.js'
import { TestStreams } from '../transports/webchannel/test-handler.js'
import { corsHeadersFor, preflight } from './cors.js'
import { redactedRequest } from './log-redaction.js'
import { refuseOrigin } from './origin.js'
import { sendRefusal } from './refusal.js'
import { principalKey } from '../session/principal.js'
import { SessionPlacement } from './session-placement.js'
import { bodyParser, mergeHeaders, urlHeaderMerger } from './webchannel-body.js'
import { BindHandler, kExtraHeaders, type WcRequest } from './webchannel-handlers.js'
import { BindQuerySchema, ForwardBodySchema, TestQuerySchema } from './webchannel-schemas.js'

// The WebChannel v8 routes: the bind handler at `{prefix}` (every request of
// the WebChannel client) and `{prefix}/bind` (legacy BrowserChannel), and the
// stateless legacy test handler at `{prefix}/test`. Each runs through the
// app's Fastify hooks; then origin, schema and session checks, in that order,
// before any session state is touched. This file is wiring only: the
// transport's sessions live in transports/webchannel/sessions.ts.

type HookDone = (err?: Error) => void

/**
 * Register the routes in a child context, so their body parser (form text
 * with a size cap) and hooks touch nothing of the app's, while the app's own
 * hooks still run on them.
 */
export async function registerWebChannelRoutes (fastify: FastifyInstance, hub: Hub, opts: ResolvedOptions): Promise<void> {
  const wc = opts.webchannel
  const base = opts.prefix === '/' ? '' : opts.prefix
  const store = opts.sessionStore
  const sessions = new WebChannelSessions(wc, opts.samePrincipal, store === null ? null : { store, keyOf: principalKey, writeTimeout: 1000 })
  const placement = store === null ? null : new SessionPlacement(hub, sessions, opts.principal, store.instanceId)
  const tests = new TestStreams()
  hub.addGauge('webchannelConnections', () => sessions.size)
  if (store !== null) fastify.addHook('onReady', async () => { await store.start() })
  hub.onClose(async () => {
    tests.endAll()
    await sessions.shutdown(opts.closeCode, opts.closeReason)
    placement?.relay.close()
  })
  if (wc.allowedHeaders.length > 0) {
    // Before Fastify routes the request: every hook of the app sees the merged headers.
    const merge = urlHeaderMerger([opts.prefix, base + '/bind'], wc.allowedHeaders)
    fastify.server.prependListener('request', merge)
    fastify.addHook('onClose', (_i, done) => { fastify.server.off('request', merge); done() })
  }

  await fastify.register(async function webchannelRoutes (child) {
    child.removeAllContentTypeParsers()
    child.addContentTypeParser('*', bodyParser(wc.maxBodySize))
    // Callback-style hooks: these run on every forward POST and back-channel
    // GET, and an async hook costs a promise and a microtask hop each.
    // Replying from a callback hook means not calling done.
    const hooks = {
      logSerializers: { req: redactedRequest },
      onRequest: originAndHeaders(opts),
      preValidation: initHeaders(wc.allowedHeaders),
      onSend: closeWhileShuttingDown(hub),
    }
    // The app's routeConfig (e.g. @fastify/rate-limit's).
    const config = { ...opts.routeConfig } as FastifyContextConfig
    // @fastify/compress (registered by the app before this plugin) sees every
    // reply sent through Fastify: handshake, forward, long poll, /test init,
    // errors. The streaming back channel is hijacked, so compress never buffers
    // it; it gzips itself. Request bodies are never inflated (a gzip bomb is
    // refused as malformed). Spread, not inline: `compress` and `decompress`
    // are @fastify/compress's route options, unknown to Fastify's own types.
    const zip = { ...(wc.compress === true ? {} : { compress: wc.compress }), decompress: false as const }
    const bind = new BindHandler(hub, opts, sessions, placement).handle
    for (const url of [opts.prefix, base + '/bind']) {
      const schema = { querystring: BindQuerySchema }
      child.route({ method: 'POST', url, ...zip, config, attachValidation: true, schema: { ...schema, body: ForwardBodySchema }, ...hooks, handler: bind })
      child.route({ method: 'GET', url, ...zip, config, attachValidation: true, schema, ...hooks, handler: bind })
    }
    child.route({ method: 'GET', url: base + '/test', ...zip, config, attachValidation: true, schema: { querystring: TestQuerySchema }, ...hooks, handler: testHandler(tests) })
    if (wc.cors !== false) {
      for (const url of [opts.prefix, base + '/bind', base + '/test']) child.options(url, { config }, preflight(wc.cors))
    }
  })
}

/** Origin (or CORS), then the headers the client packed into the URL, allow-listed. */
function originAndHeaders (opts: ResolvedOptions) {
  return function onRequest (request: WcRequest, reply: FastifyReply, done: HookDone): void {
    const cors = corsHeadersFor(request, opts.webchannel.cors)
    if (cors === null && refuseOrigin(request, reply, opts.origin)) return
    if (cors !== null) {
      request[kExtraHeaders] = cors
      reply.headers(cors)
    }
    // $httpHeaders, or the fast handshake's $req: merged already (urlHeaderMerger), checked here.
    const q = request.query as Record<string, unknown>
    try {
      if (typeof q.$httpHeaders === 'string') mergeHeaders(request, q.$httpHeaders, opts.webchannel.allowedHeaders)
      if (typeof q.$req === 'string' && q.$req.includes('headers=')) {
        const h = parseForm(q.$req).get('headers')
        if (h !== undefined) mergeHeaders(request, h, opts.webchannel.allowedHeaders)
      }
    } catch (err) {
      sendRefusal(reply, refusal(HttpRefusal.INVALID_REQUEST, 'Invalid WebChannel request: ' + (err as Error).message))
      return
    }
    done()
  }
}

/** The handshake's encoded init headers (encodeInitMessageHeaders) count as request headers. */
function initHeaders (allowed: readonly string[]) {
  return function preValidation (request: FastifyRequest, reply: FastifyReply, done: HookDone): void {
    const body = request.body as ForwardBody | null | undefined
    if (body !== null && body !== undefined && typeof body.headers === 'string') {
      try {
        mergeHeaders(request, body.headers, allowed)
      } catch (err) {
        sendRefusal(reply, refusal(HttpRefusal.INVALID_REQUEST, 'Invalid WebChannel request: ' + (err as Error).message))
        return
      }
    }
    done()
  }
}

/**
 * A request that began before app.close() and ends after Fastify closed idle
 * connections would hold its keep-alive socket (and close()) open for
 * keepAliveTimeout: ask an HTTP/1 client to drop it (HTTP/2 has no such header).
 */
function closeWhileShuttingDown (hub: Hub) {
  return function onSend (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void): void {
    if (hub.closing && request.raw.httpVersionMajor < 2) reply.header('connection', 'close')
    done(null, payload)
  }
}

function testHandler (tests: TestStreams) {
  return async function test (request: WcRequest, reply: FastifyReply) {
    if (request.validationError !== undefined) {
      return sendRefusal(reply, refusal(HttpRefusal.INVALID_REQUEST, 'Invalid WebChannel request: ' + request.validationError.message))
    }
    const q = request.query as Record<string, string | undefined>
    // [hostPrefix, blockedPrefix]: no prefixes; bare JSON, not framed.
    if (q.MODE === 'init') return reply.code(200).headers(NO_CACHE_HEADERS).send('[null,null]')
    if (q.TYPE !== 'xmlhttp') {
      return sendRefusal(reply, refusal(HttpRefusal.INVALID_REQUEST, 'Invalid WebChannel request: the test handler needs MODE=init or TYPE=xmlhttp'))
    }
    reply.hijack()
    tests.start(reply.raw, request[kExtraHeaders] ?? {})
  }
}
