import type { IncomingMessage } from 'node:http'
import type { FastifyRequest } from 'fastify'
import { parseForwardBody, parseHeaderBlock, type ForwardBody } from '../codecs/webchannel-maps.js'
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
      finish(null, body)
    }
    payload.on('data', onData)
    payload.on('error', onError)
    payload.on('end', onEnd)
  }
}

/** Merge client-encoded headers (allow-listed) into the request; real headers win. */
export function mergeHeaders (request: FastifyRequest, block: string, allowed: readonly string[]): void {
  const extra = parseHeaderBlock(block, allowed)
  for (const [name, value] of Object.entries(extra)) {
    if (request.headers[name] === undefined) request.headers[name] = value
  }
}
