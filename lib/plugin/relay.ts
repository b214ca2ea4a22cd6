import { Agent, request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http'
import type { FastifyReply, FastifyRequest } from 'fastify'

/** Marks a request one instance forwarded to another: it is served there or refused, never forwarded again. */
export const RELAY_HEADER = 'x-webchannel-relay'

// Per hop, never forwarded (RFC 9110 §7.6.1), plus what the relay sets itself.
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length'])
// A WebSocket upgrade's own headers: a question about it is asked as a plain GET.
const UPGRADE_ONLY = new Set(['sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions', 'sec-websocket-protocol'])

/**
 * How a relay ended: the owner's answer went to the client; or the owner
 * could not be reached (nothing was sent: take the session over); or the
 * owner no longer holds the session (ask the store again).
 */
export type RelayOutcome = 'done' | 'unreachable' | 'not-here'

function copyHeaders (from: IncomingHttpHeaders, keepLength: boolean): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {}
  for (const [name, value] of Object.entries(from)) {
    if (value !== undefined && (!HOP_BY_HOP.has(name) || (keepLength && name === 'content-length'))) out[name] = value
  }
  return out
}

/**
 * Forwards a WebChannel request to the instance that owns its session (a
 * session store knows which), and the owner's answer back, streaming. The
 * owner runs the app's hooks on it as on any request: the client's own
 * headers (cookies, Authorization, Origin, Host) go along unchanged.
 */
export class Relay {
  private readonly agent = new Agent({ keepAlive: true })
  private readonly instanceId: string

  constructor (instanceId: string) {
    this.instanceId = instanceId
  }

  forward (request: FastifyRequest, reply: FastifyReply, ownerUrl: string, body: string | null): Promise<RelayOutcome> {
    return new Promise<RelayOutcome>((resolve) => {
      const headers = copyHeaders(request.raw.headers, false)
      headers[RELAY_HEADER] = this.instanceId
      if (body !== null) headers['content-length'] = Buffer.byteLength(body)
      const upstream = httpRequest(new URL(request.raw.url ?? '/', ownerUrl), { method: request.method, headers, agent: this.agent })
      let answered = false
      upstream.on('response', (res) => {
        if (res.statusCode === 421 && res.headers[RELAY_HEADER] !== undefined) {
          res.resume()
          resolve('not-here')
          return
        }
        answered = true
        reply.hijack()
        const out = reply.raw
        out.writeHead(res.statusCode ?? 502, copyHeaders(res.headers, true))
        // A streaming back channel: the client must see headers and each chunk as they come.
        out.flushHeaders()
        res.on('data', (chunk: Buffer) => out.write(chunk))
        res.on('end', () => out.end())
        res.on('aborted', () => out.destroy())
        res.on('error', () => out.destroy())
        resolve('done')
      })
      upstream.on('error', () => {
        if (answered) reply.raw.destroy()
        else resolve('unreachable')
      })
      // The client went away (a back channel it replaced): the owner's GET goes too.
      reply.raw.on('close', () => { if (!reply.raw.writableFinished) upstream.destroy() })
      upstream.end(body ?? undefined)
    })
  }

  /**
   * Ask the owner something about a session with a plain GET of `path` that
   * carries the client's headers (so the owner's hooks authenticate it as the
   * client): its status, or 'unreachable'.
   */
  ask (request: FastifyRequest, ownerUrl: string, path: string): Promise<number | 'unreachable'> {
    return new Promise((resolve) => {
      const headers = copyHeaders(request.raw.headers, false)
      for (const name of UPGRADE_ONLY) delete headers[name]
      headers[RELAY_HEADER] = this.instanceId
      const upstream = httpRequest(new URL(path, ownerUrl), { method: 'GET', headers, agent: this.agent })
      upstream.on('response', (res) => {
        res.resume()
        resolve(res.statusCode ?? 502)
      })
      upstream.on('error', () => resolve('unreachable'))
      upstream.end()
    })
  }

  close (): void {
    this.agent.destroy()
  }
}
