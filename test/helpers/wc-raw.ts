// Raw HTTP against the WebChannel routes: exact requests, and streamed
// responses read as they arrive (for back channels and the /test handler).
import http from 'node:http'
import { createGunzip } from 'node:zlib'
import type { Readable } from 'node:stream'
import { parseFrames } from '../../lib/codecs/webchannel-framing.js'

export interface RawResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: string
}

export interface RawInit {
  method?: string
  headers?: Record<string, string>
  body?: string
}

/** One request, whole response. Rejects on a network error (e.g. a destroyed socket). */
export function request (origin: string, path: string, init: RawInit = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, origin)
    const body = init.body ?? ''
    const headers: Record<string, string> = { ...init.headers }
    if (init.body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
    if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(body))
    const req = http.request({ method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'), hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent: false }, (res) => {
      let stream: Readable = res
      if (res.headers['content-encoding'] === 'gzip') stream = res.pipe(createGunzip())
      let text = ''
      stream.setEncoding('utf8')
      stream.on('data', (c: string) => { text += c })
      stream.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }))
      stream.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** A streamed response: text so far, with waits on what arrives. */
export interface Stream {
  status: number
  headers: http.IncomingHttpHeaders
  text: string
  ended: boolean
  /** Resolves once the text satisfies `pred`. */
  until (pred: (text: string) => boolean, what: string, timeoutMs?: number): Promise<string>
  /** Resolves when the response ends (or the connection drops). */
  end (timeoutMs?: number): Promise<string>
  /** Arrays received so far, flattened: [[id, payload], …]. */
  arrays (): Array<[number, unknown]>
  destroy (): void
}

export function stream (origin: string, path: string, init: RawInit = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, origin)
    const headers: Record<string, string> = { ...init.headers }
    const req = http.request({ method: init.method ?? 'GET', hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent: false }, (res) => {
      const waiters = new Set<() => void>()
      const s: Stream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        text: '',
        ended: false,
        until (pred, what, timeoutMs = 10_000) {
          if (pred(s.text)) return Promise.resolve(s.text)
          return new Promise((resolve, reject) => {
            const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(s.text.slice(0, 300))}`)) }, timeoutMs)
            const check = () => {
              if (pred(s.text)) { clearTimeout(timer); waiters.delete(check); resolve(s.text) } else if (s.ended) { clearTimeout(timer); waiters.delete(check); reject(new Error(`ended before ${what}; got ${JSON.stringify(s.text.slice(0, 300))}`)) }
            }
            waiters.add(check)
          })
        },
        end (timeoutMs = 10_000) {
          return s.until(() => s.ended, 'the end', timeoutMs).catch(e => { if (s.ended) return s.text; throw e })
        },
        arrays () {
          const out: Array<[number, unknown]> = []
          for (const c of parseFrames(s.text).chunks) out.push(...c as Array<[number, unknown]>)
          return out
        },
        destroy () { req.destroy(); res.destroy() },
      }
      let body: Readable = res
      if (res.headers['content-encoding'] === 'gzip') body = res.pipe(createGunzip())
      body.setEncoding('utf8')
      const notify = () => { for (const w of [...waiters]) w() }
      body.on('data', (c: string) => { s.text += c; notify() })
      body.on('end', () => { s.ended = true; notify() })
      body.on('error', () => { s.ended = true; notify() })
      // A complete gzip body ends when gunzip has emitted its last bytes, after the socket closed.
      res.on('close', () => { if (body === res || !res.complete) { s.ended = true; notify() } })
      resolve(s)
    })
    req.on('error', reject)
    req.end(init.body)
  })
}

/** A handshake POST; returns the SID and the arrays of the reply. */
export async function handshake (origin: string, prefix = '/channel', body = 'count=0', headers: Record<string, string> = {}): Promise<{ sid: string, arrays: Array<[number, unknown]>, res: RawResponse }> {
  const res = await request(origin, `${prefix}?VER=8&RID=100&CVER=22&zx=a&t=1`, { body, headers })
  if (res.status !== 200) throw new Error(`handshake failed: ${res.status} ${res.body}`)
  const parsed = parseFrames(res.body)
  const arrays = parsed.chunks[0] as Array<[number, unknown[]]>
  return { sid: String(arrays[0][1][1]), arrays, res }
}
