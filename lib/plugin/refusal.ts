import { STATUS_CODES } from 'node:http'
import type { FastifyReply } from 'fastify'
import { UNKNOWN_SID, type Refusal } from '../errors.js'
import { NO_CACHE_HEADERS } from '../transports/webchannel/back-channel.js'

/**
 * The one way every route of the plugin refuses a request: a catalogue status
 * with the JSON body {statusCode, code, error, message}, as Fastify's own errors.
 */
export function sendRefusal (reply: FastifyReply, r: Refusal): FastifyReply {
  if (r.retryAfter !== undefined) reply.header('retry-after', String(r.retryAfter))
  return reply.code(r.statusCode).type('application/json; charset=utf-8').send({
    statusCode: r.statusCode,
    code: r.code,
    error: STATUS_CODES[r.statusCode] ?? 'Error',
    message: r.message,
  })
}

/** An unknown (or foreign) SID: the only refusal the WebChannel client reads by its body. */
export function sendUnknownSid (reply: FastifyReply): FastifyReply {
  return reply.code(UNKNOWN_SID.statusCode).headers(NO_CACHE_HEADERS).type('text/html; charset=utf-8').send(UNKNOWN_SID.body)
}
