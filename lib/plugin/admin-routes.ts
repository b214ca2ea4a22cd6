import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { CloseCode, HttpRefusal } from '../errors.js'
import type { WebChannelApi } from './api.js'
import { sendRefusal } from './refusal.js'

const Params = Type.Object({ id: Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' }) })
const CloseQuery = Type.Object({
  code: Type.Optional(Type.Integer({ minimum: 1000, maximum: 4999 })),
  reason: Type.Optional(Type.String({ maxLength: 123 })),
})

/**
 * The optional admin route: list this instance's sessions, close one, its
 * health (GET path/health: always 200, `status` says ok or degraded). No
 * guard of its own: the app's hooks decide who may call it, as on every route.
 */
export function registerAdminRoutes (fastify: FastifyInstance, api: WebChannelApi, path: string, config: Record<string, unknown>): void {
  fastify.get(path, { config }, async () => ({ sessions: api.inspect(), stats: api.stats(), health: api.health() }))
  fastify.get(path + '/health', { config }, async () => api.health())
  fastify.delete(path + '/:id', { config, schema: { params: Params, querystring: CloseQuery } }, async (request, reply) => {
    const { id } = request.params as { id: string }
    const { code, reason } = request.query as { code?: number, reason?: string }
    if (!api.toSession(id).close(code ?? CloseCode.NORMAL, reason ?? '')) return sendRefusal(reply, HttpRefusal.NO_SUCH_SESSION)
    return reply.code(204).send()
  })
}
