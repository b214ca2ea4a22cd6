// One keep-alive HTTP/1.1 client for every long-poll protocol and the control
// routes: node:http with pooled sockets, bodies read as UTF-8 text.
import http from 'node:http'

export const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 8192 })

export const FORM = 'application/x-www-form-urlencoded'
export const TEXT = 'text/plain;charset=UTF-8'

/** Source address for the session requests (the scale bench spreads clients over 127.0.0.2 and up). */
let localAddress
export function setLocalAddress (address) {
  localAddress = address
}

/** HTTP requests made so far, by method (long-poll cost per operation). */
export const counts = { GET: 0, POST: 0 }

/** Resolves with { status, body } once the response has ended. */
export function request (port, method, path, body, contentType = FORM) {
  counts[method] = (counts[method] ?? 0) + 1
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': contentType, 'content-length': Buffer.byteLength(body) }
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers, localAddress }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode, body: text }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * A GET whose body is read as it arrives (a streaming back channel):
 * `onText(piece)` per decoded piece while the status is 200; resolves with
 * { status, body } (body only for a non-200) once the response has ended.
 */
export function stream (port, path, onText) {
  counts.GET++
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'GET', path, agent, localAddress }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c) => { if (res.statusCode === 200) onText(c); else body += c })
      res.on('end', () => resolve({ status: res.statusCode, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

let zxCount = 0
/** The cache-buster both long-poll clients add to every URL. */
export function zx () {
  return (++zxCount).toString(36)
}
