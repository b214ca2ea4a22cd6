import type { FastifyRequest } from 'fastify'

// Query parameters that carry credentials or session ids: proxies and Fastify
// log URLs, so the plugin's routes log them redacted.
const SECRET_PARAMS = /([?&](?:token|access_token|SID|OSID|X-HTTP-Session-Id|\$httpHeaders|\$req)=)[^&]*/gi

/** A URL with its secret query values replaced by `[redacted]`. */
export function redactUrl (url: string): string {
  return url.includes('?') ? url.replace(SECRET_PARAMS, '$1[redacted]') : url
}

/**
 * The `req` log serializer of the plugin's routes (Fastify's own shape, the URL
 * redacted): it also shapes Fastify's "incoming request" line for them.
 */
export function redactedRequest (request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  }
}
