import type { FastifyReply, FastifyRequest } from 'fastify'
import { HttpRefusal, refusal } from '../errors.js'
import type { OriginOption } from '../options.js'
import { sendRefusal } from './refusal.js'

/** `scheme://host[:port]`, lower-cased, default ports dropped; null when unparsable. */
export function normalizeOrigin (value: string): string | null {
  try {
    const u = new URL(value)
    if (u.origin === 'null') return null
    return u.origin.toLowerCase()
  } catch {
    return null
  }
}

/**
 * The origin check shared by every transport request. A request without an
 * Origin header (a non-browser client, or a same-origin GET) passes; browsers
 * send Origin on every WebSocket upgrade and cross-site POST, which is what
 * cross-site forgery would use.
 */
export function originAllowed (request: FastifyRequest, option: OriginOption): boolean {
  const header = request.headers.origin
  if (header === undefined || option === '*') return true
  if (typeof option === 'function') return option(header, request) === true
  const origin = normalizeOrigin(header)
  if (origin === null) return false
  if (option === 'same-origin') {
    // request.host honours trustProxy (X-Forwarded-Host) behind a proxy.
    const host = request.host
    if (host === undefined || host === '') return false
    return new URL(origin).host === host.toLowerCase() || stripDefaultPort(origin) === stripDefaultPort(`${new URL(origin).protocol}//${host.toLowerCase()}`)
  }
  const list = Array.isArray(option) ? option : [option]
  for (const entry of list as Array<string | RegExp>) {
    if (entry instanceof RegExp) {
      entry.lastIndex = 0
      if (entry.test(origin)) return true
    } else if (normalizeOrigin(entry) === origin) {
      return true
    }
  }
  return false
}

function stripDefaultPort (origin: string): string {
  return origin.replace(/^(http:\/\/[^/]+):80$/, '$1').replace(/^(https:\/\/[^/]+):443$/, '$1')
}

/**
 * Refuse a request whose Origin the option does not allow: 403 with a body
 * that says why, and one warn line naming the origin, the host and what to
 * set. Returns whether it refused.
 */
export function refuseOrigin (request: FastifyRequest, reply: FastifyReply, option: OriginOption): boolean {
  if (originAllowed(request, option)) return false
  const origin = request.headers.origin
  const message = option === 'same-origin'
    ? `Origin ${origin} is not this server's (host ${request.host}, protocol ${request.protocol}). ` +
      "Behind a proxy, set Fastify's trustProxy so X-Forwarded-Host and -Proto are honoured, or list the origin in the plugin's origin option"
    : `Origin ${origin} is not allowed by the plugin's origin option`
  request.log.warn({ origin, host: request.host, option: 'origin' }, 'webchannel: ' + message)
  sendRefusal(reply, refusal(HttpRefusal.ORIGIN_FORBIDDEN, message))
  return true
}
