import type { IncomingMessage } from 'node:http'
import type { FastifyRequest } from 'fastify'
import { parseForm, parseForwardBody, parseHeaderBlock, type ForwardBody } from '../codecs/webchannel-maps.js'
import { HttpRefusal, refusal, type Refusal } from '../errors.js'

/** An error a content-type parser hands Fastify: it answers with this status and our catalogue code. */
class ParseRefusal extends Error {
  readonly statusCode: number
  readonly code: string
  constructor (r: Refusal) {
    super(r.message)
    this.statusCode = r.statusCode
    this.code = r.code
  }
}

/** The forward POST's body text, as the client sent it. */
export const kRawBody = Symbol('webchannel.rawBody')

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
export function bodyParser (maxBodySize: number) {
  return function parse (request: FastifyRequest, payload: IncomingMessage, done: (err: Error | null, body?: unknown) => void): void {
    const declared = Number(request.headers['content-length'])
    if (Number.isFinite(declared) && declared > maxBodySize) {
      done(new ParseRefusal(refusal(HttpRefusal.BODY_TOO_LARGE, `Request body is larger than ${maxBodySize} bytes`)))
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
        finish(new ParseRefusal(refusal(HttpRefusal.BODY_TOO_LARGE, `Request body is larger than ${maxBodySize} bytes`)))
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
        finish(new ParseRefusal(refusal(HttpRefusal.INVALID_REQUEST, 'Invalid WebChannel request: ' + (err as Error).message)))
        return
      }
      // Kept for a relay to the session's owner instance (a sessionStore); the same string, no copy.
      ;(request as FastifyRequest & { [kRawBody]?: string })[kRawBody] = text
      finish(null, body)
    }
    payload.on('data', onData)
    payload.on('error', onError)
    payload.on('end', onEnd)
  }
}

/** Merge client-encoded headers (allow-listed) into the request; real headers win. */
export function mergeHeaders (request: Pick<FastifyRequest, 'headers'>, block: string, allowed: readonly string[]): void {
  const extra = parseHeaderBlock(block, allowed)
  for (const [name, value] of Object.entries(extra)) {
    if (request.headers[name] === undefined) request.headers[name] = value
  }
}

/**
 * A `request` listener that runs before Fastify sees the request: headers a
 * client packed into the URL of a bind request (`$httpHeaders`, the fast
 * handshake's `$req`) are merged (allow-listed) before any hook runs, so the
 * app's onRequest hooks and its handlers see one and the same request. A
 * malformed block is left for the route, which answers it 400.
 */
export function urlHeaderMerger (paths: readonly string[], allowed: readonly string[]) {
  return function mergeUrlHeaders (req: IncomingMessage): void {
    const url = req.url ?? ''
    const q = url.indexOf('?')
    if (q < 0 || !paths.includes(url.slice(0, q))) return
    const query = url.slice(q + 1)
    if (!query.includes('%24httpHeaders=') && !query.includes('$httpHeaders=') && !query.includes('$req=') && !query.includes('%24req=')) return
    try {
      const params = new URLSearchParams(query)
      const block = params.get('$httpHeaders')
      if (block !== null) mergeHeaders(req, block, allowed)
      const fast = params.get('$req')
      if (fast !== null && fast.includes('headers=')) {
        const h = parseForm(fast).get('headers')
        if (h !== undefined) mergeHeaders(req, h, allowed)
      }
    } catch {
      // The route's own onRequest hook parses it again and refuses it.
    }
  }
}
