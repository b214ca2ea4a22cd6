// The example chat: everything fastify-webchannel does, in one small app.
// `buildApp()` returns a Fastify instance that is ready to listen.
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import webchannel, { WireError, WireErrorCode, type WebChannelOptions } from '../lib/index.js'
import { issueToken, newSecret, tokenOf, verifyToken, type User } from './auth.js'
import { bundlePage, type Asset } from './bundle.js'
import { events, type ChatMessage } from './events.js'

export interface AppOptions {
  /** Signs login tokens; keep it across restarts to keep sessions valid. Default: one per process. */
  secret?: string
  /** Fastify logger; default off. */
  logger?: boolean
  /** Fastify's trustProxy: behind a reverse proxy, believe its X-Forwarded-* headers. Default false. */
  trustProxy?: boolean | string | string[]
  /** Transport tuning passed to the plugin (timeouts that must fit a proxy's limits; see docs/deployment.md). */
  channel?: Pick<WebChannelOptions, 'websocket' | 'webchannel' | 'origin'>
}

const processSecret = newSecret()
let assets: Promise<Map<string, Asset>> | null = null

export async function buildApp (opts: AppOptions = {}): Promise<FastifyInstance> {
  const secret = opts.secret ?? processSecret
  // forceCloseConnections: browsers keep idle (even never-used, preconnected) sockets open; app.close() should not wait for them.
  const app = Fastify({ logger: opts.logger ?? false, forceCloseConnections: true, trustProxy: opts.trustProxy ?? false })
  const users = new WeakMap<FastifyRequest, User>()

  // Auth is an ordinary Fastify hook: it guards the WebSocket upgrade and every WebChannel request alike.
  app.addHook('onRequest', async (request, reply) => {
    if (request.url !== '/channel' && !request.url.startsWith('/channel/') && !request.url.startsWith('/channel?')) return
    const token = tokenOf(request)
    const user = token === null ? null : verifyToken(secret, token)
    if (user === null) return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'Log in first' })
    users.set(request, user)
  })

  await app.register(webchannel, {
    ...opts.channel,
    prefix: '/channel',
    principal: (request) => users.get(request) ?? null,
  })

  const nameOf = (principal: unknown): string => (principal as User).name

  app.webchannel.channel('room:*', {
    // Everyone else gets the same generic refusal as an unknown channel.
    authorize: (session, name) => name !== 'room:admins' || nameOf(session.principal) === 'admin',
  })

  app.webchannel.on('echo', events.echo, (_ctx, value) => value)
  app.webchannel.on('whoami', events.whoami, (ctx) => nameOf(ctx.principal))
  app.webchannel.on('chat.send', events['chat.send'], (ctx, { room, text }) => {
    const channel = 'room:' + room
    if (!ctx.session.channels.has(channel)) {
      throw new WireError(WireErrorCode.VALIDATION, 'Invalid payload at /0/room: join the room first', { path: '/0/room' })
    }
    const message: ChatMessage = { id: randomUUID(), room, from: nameOf(ctx.principal), text, ts: Date.now() }
    app.webchannel.to(channel).emit('chat.message', message)
    return { id: message.id, ts: message.ts }
  })

  app.post('/login', {
    schema: {
      body: Type.Object({ name: Type.String({ minLength: 1, maxLength: 32, pattern: '\\S' }) }),
      response: { 200: Type.Object({ token: Type.String() }) },
    },
  }, async (request, reply) => {
    const token = issueToken(secret, (request.body as { name: string }).name.trim())
    // The cookie lets the WebSocket upgrade authenticate without a query parameter, too.
    reply.header('set-cookie', `token=${encodeURIComponent(token)}; Path=/channel; HttpOnly; SameSite=Strict`)
    return { token }
  })

  const page = readFile(new URL('./web/index.html', import.meta.url), 'utf8')
  assets ??= bundlePage()
  const built = await assets
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').send(await page))
  app.get<{ Params: { file: string } }>('/assets/:file', async (request, reply) => {
    const asset = built.get(request.params.file)
    if (asset === undefined) return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'No such asset' })
    return reply.type(asset.type).header('cache-control', 'no-cache').send(asset.body)
  })
  return app
}
