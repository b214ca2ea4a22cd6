// The floor for a long-poll session's idle memory: a bare node:http server
// that keeps no session state at all. It answers the WebChannel handshake with
// a `c` array and parks every back-channel GET after one noop chunk, with the
// headers a real back channel sends. Whatever a real long-poll server holds
// per session comes on top of this.
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import { ready } from './control.mjs'

const HEADERS = {
  'content-type': 'text/plain; charset=utf-8',
  'cache-control': 'no-cache, no-store, max-age=0, must-revalidate',
  pragma: 'no-cache',
  expires: '0',
  'x-content-type-options': 'nosniff',
  'x-accel-buffering': 'no',
}
const frame = (json) => `${json.length}\n${json}`

let parked = 0
const server = createServer((req, res) => {
  if (req.method === 'POST') {
    // The handshake (the idle scenario sends nothing else): drain the body, answer `c`.
    req.resume()
    req.on('end', () => {
      const sid = randomBytes(16).toString('base64url')
      res.writeHead(200, HEADERS).end(frame(JSON.stringify([[0, ['c', sid, null, 8, 0, 30_000]]])))
    })
    return
  }
  // A back-channel GET (CI=0): headers and a noop now, then held open.
  res.writeHead(200, HEADERS)
  res.write(frame('[[1,["noop"]]]'))
  parked++
  res.once('close', () => { parked-- })
})
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
await ready({ port: server.address().port, emit: () => {}, conns: () => parked })
