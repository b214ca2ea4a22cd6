import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpRefusal } from '../errors.js'
import type { CorsOptions } from '../options.js'
import { sendRefusal } from './refusal.js'

// The client reads these three response headers; cross-origin they must be exposed.
const EXPOSED_HEADERS = 'X-HTTP-Session-Id, X-Client-Wire-Protocol, X-HTTP-Initial-Response'

/** CORS headers for an allowed cross-origin request; null when it is not one. */
export function corsHeadersFor (request: FastifyRequest, cors: false | CorsOptions): Record<string, string> | null {
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

/** The preflight answer for the long-poll routes. */
export function preflight (cors: false | CorsOptions) {
  return async function preflightHandler (request: FastifyRequest, reply: FastifyReply) {
    const headers = corsHeadersFor(request, cors)
    if (headers === null) return sendRefusal(reply, HttpRefusal.ORIGIN_FORBIDDEN)
    const asked = request.headers['access-control-request-headers']
    return reply.code(204).headers({
      ...headers,
      'access-control-allow-methods': 'GET, POST',
      ...(typeof asked === 'string' ? { 'access-control-allow-headers': asked } : {}),
      'access-control-max-age': '600',
    }).send()
  }
}
