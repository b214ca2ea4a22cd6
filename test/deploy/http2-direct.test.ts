// Issue 12 point 4: Fastify serving HTTP/2 itself (h2c here; TLS is the same
// for these headers). Not through nginx: nginx speaks HTTP/1.1 to the app. Every WebChannel outcome must be an HTTP/2 response:
// no connection-specific header (illegal in HTTP/2; Node warns and drops it)
// and no socket destroyed as an answer (that resets every stream of the
// session, and behind a proxy becomes a 502).
import http2 from 'node:http2'
import t from 'tap'
import Fastify from 'fastify'
import webchannel from '../../lib/index.js'

interface H2Answer { status: number, headers: http2.IncomingHttpHeaders, body: string, error: string | null }

function h2request (session: http2.ClientHttp2Session, path: string, method: string, body?: string, untilChunk = false): Promise<H2Answer> {
  return new Promise(resolve => {
    const headers: http2.OutgoingHttpHeaders = { ':method': method, ':path': path }
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded'
    const stream = session.request(headers, { endStream: body === undefined })
    const out: H2Answer = { status: 0, headers: {}, body: '', error: null }
    stream.on('response', (h) => { out.headers = h; out.status = Number(h[':status']) })
    stream.setEncoding('utf8')
    stream.on('data', (c: string) => {
      out.body += c
      if (untilChunk) resolve(out)
    })
    stream.on('end', () => resolve(out))
    stream.on('error', (err) => { out.error = err.message; resolve(out) })
    stream.on('close', () => resolve(out))
    if (body !== undefined) stream.end(body)
  })
}

t.test('WebChannel over HTTP/2: outcomes are responses without hop-by-hop headers', async t => {
  const warnings: string[] = []
  const onWarning = (w: Error): void => { warnings.push(w.message) }
  process.on('warning', onWarning)
  t.teardown(() => { process.off('warning', onWarning) })

  const app = Fastify({ http2: true })
  let parked!: () => void
  const polled = new Promise<void>(resolve => { parked = resolve })
  app.addHook('preHandler', async (req) => { if (req.url.includes('RID=rpc')) setImmediate(parked) })
  await app.register(webchannel, { websocket: { enabled: false }, shutdownTimeout: 500 })
  app.webchannel.on('boom', () => { throw new Error('handler bug') })
  app.webchannel.on('echo', (_ctx, x) => x)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  const session = http2.connect(`http://127.0.0.1:${port}`)
  t.teardown(() => { session.destroy() })
  let closing: Promise<void> | null = null
  t.teardown(() => closing ?? app.close())

  const hs = await h2request(session, '/channel?VER=8&RID=1&CVER=22&t=1', 'POST', 'count=0')
  t.equal(hs.status, 200, 'handshake over HTTP/2')
  const sid = JSON.parse(hs.body.split('\n')[1])[0][1][1] as string

  const boom = encodeURIComponent(JSON.stringify({ a: ['boom'] }))
  const post = await h2request(session, `/channel?VER=8&SID=${sid}&RID=2&AID=0&t=1`, 'POST', `count=1&ofs=0&req0___data__=${boom}`)
  t.ok(post.status > 0 && post.error === null, `a forward POST whose handler throws is answered (status ${post.status}, error ${String(post.error)})`)
  // Node's HTTP/2 compatibility layer routes that destroy() to the stream (a reset), so the session lives on.
  t.notOk(session.destroyed, 'the HTTP/2 session survives it')
  if (session.destroyed) return

  // A long poll held (no headers sent yet) while the server shuts down: it must end with `close`, as a clean HTTP/2 stream.
  const stream = session.request({ ':method': 'GET', ':path': `/channel?VER=8&RID=rpc&SID=${sid}&AID=0&CI=1&TYPE=xmlhttp&t=1` })
  stream.setEncoding('utf8')
  let text = ''
  let outcome = 'open'
  stream.on('data', (c: string) => { text += c })
  const ended = new Promise<void>(resolve => {
    stream.on('end', () => { outcome = 'end'; resolve() })
    stream.on('error', (err) => { outcome = 'error ' + err.message; resolve() })
    stream.on('close', () => { if (outcome === 'open') outcome = 'closed without end'; resolve() })
  })
  await polled
  closing = app.close()
  await Promise.race([ended, new Promise(resolve => setTimeout(resolve, 3000))])
  session.close()
  await closing
  t.match(text, /"close"/, 'the back channel carried close')
  t.equal(outcome, 'end', 'and ended as a stream')
  t.same(warnings.filter(w => /connection/i.test(w)), [], 'no warning about a connection header')
})
