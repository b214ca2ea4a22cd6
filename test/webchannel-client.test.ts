// The real, unmodified WebChannel client (@firebase/webchannel-wrapper) in
// Node, over the XHR stand-in, against the plugin. Assertions look at what
// crossed the wire (the stand-in records every request and response).
import t, { type Test } from 'tap'
import compress from '@fastify/compress'
import type { FastifyInstance } from 'fastify'
import { parseFrames } from '../lib/codecs/webchannel-framing.js'
import type { EndReason, Session } from '../lib/index.js'
import { describe, startWcServer, until, type WcServer } from './helpers/wc-app.js'
import { openChannel, type WcClient } from './helpers/wc-node-client.js'
import { xhrLog, type XhrRecord } from './helpers/wc-xhr.js'

const fast = { keepaliveInterval: 2000, longPollTimeout: 500 }

function traffic (s: WcServer): XhrRecord[] {
  return xhrLog.filter(r => r.url.startsWith(s.origin))
}

function gets (s: WcServer): XhrRecord[] {
  return traffic(s).filter(r => r.method === 'GET' && r.url.includes('RID=rpc'))
}

/** Arrays delivered on the back channels so far (parsed from the recorded bodies). */
function backChannelArrays (s: WcServer): Array<[number, unknown]> {
  const out: Array<[number, unknown]> = []
  for (const r of gets(s)) {
    for (const chunk of parseFrames(r.responseText).chunks) out.push(...chunk as Array<[number, unknown]>)
  }
  return out
}

async function closeClient (c: WcClient, s: WcServer): Promise<void> {
  c.close()
  await c.closed()
  await until(() => traffic(s).find(r => r.url.includes('TYPE=terminate') && r.outcome !== null), 'the terminate request')
}

interface Ended { session: Session, reason: EndReason }

async function server (t: Test, webchannel: Record<string, unknown> = {}, setup?: (app: FastifyInstance) => void | Promise<void>, pre?: (app: FastifyInstance) => void | Promise<void>) {
  const ended: Ended[] = []
  const s = await startWcServer({
    webchannel: { ...fast, ...webchannel },
    onSessionEnd: (session, reason) => { ended.push({ session, reason }) },
  }, setup, pre)
  t.teardown(() => s.app.close())
  return { s, ended }
}

t.test('default options: handshake, streaming back channel, request/response, events both ways, terminate', async t => {
  const { s, ended } = await server(t, {}, app => {
    app.webchannel.on('add', (_ctx, a: number, b: number) => a + b)
    app.webchannel.on('hello', (ctx, name: string) => { ctx.session.emit('greeting', `hi ${name}`) })
  })
  const c = openChannel(s.url, { sendRawJson: true })
  await c.opened()
  c.send({ a: ['add', 2, 3], i: 1 })
  c.send({ a: ['hello', 'wörld 😀'] })
  const msgs = await c.waitForMessages(2)
  t.same(msgs, [{ i: 1, d: 5 }, { a: ['greeting', 'hi wörld 😀'] }])

  const hs = traffic(s)[0]
  t.equal(hs.method, 'POST')
  t.match(hs.url, /VER=8&RID=\d+&CVER=22/)
  const c0 = parseFrames(hs.responseText).chunks[0] as Array<[number, unknown[]]>
  t.equal(c0[0][0], 0)
  t.equal(c0[0][1][0], 'c')
  t.match(c0[0][1][1], /^[A-Za-z0-9_-]{22}$/, 'the SID is the session id')
  t.equal(c0[0][1][3], 8)
  t.equal(c0[0][1][5], 2000, 'keepalive interval advertised in c[5]')
  const g = gets(s)
  t.ok(g.length >= 1)
  t.match(g[0].url, /CI=0/, 'streaming back channel')
  t.equal(g[0].responseHeaders['content-type'], 'text/plain; charset=utf-8')
  t.equal(g[0].responseHeaders['x-content-type-options'], 'nosniff')
  const arrays = backChannelArrays(s)
  t.same(arrays[0], [1, ['noop']], 'an idle fresh GET gets a noop at once')
  t.same(arrays.map(a => a[0]), arrays.map((_, i) => i + 1), 'array ids are consecutive')

  const posts = traffic(s).filter(r => r.method === 'POST' && r.url.includes('SID='))
  t.ok(posts.length >= 1)
  t.match(posts[0].responseText, /^\d+\n\[[01],\d+,\d+\]$/, 'forward reply is a framed 3-element array')

  await closeClient(c, s)
  await until(() => ended.find(e => e.reason === 'client-close'), 'session end')
  t.equal(s.app.webchannel.sessions.size, 0, 'the session is freed')
  t.same(c.events.filter(e => e.type === 'error'), [], 'no error on a clean close')
})

t.test('plain maps (no sendRawJson) reach the raw hook as objects; strings as strings', async t => {
  const raw: unknown[] = []
  const { s } = await server(t, {}, app => {
    app.webchannel.onRaw((session, m) => {
      raw.push(m)
      session.sendRaw(JSON.stringify({ got: m }))
    })
  })
  const c = openChannel(s.url)
  await c.opened()
  c.send({ hello: 'world', n: 1, nested: { a: [1] } })
  c.send('just a string')
  const msgs = await c.waitForMessages(2)
  t.same(raw.map(m => typeof m === 'string' ? m : { ...m as object }), [{ hello: 'world', n: '1', nested: '{"a":[1]}' }, 'just a string'])
  t.same(msgs, [{ got: { hello: 'world', n: '1', nested: '{"a":[1]}' } }, { got: 'just a string' }])
  const post = traffic(s).find(r => r.method === 'POST' && r.url.includes('SID='))
  t.match(post?.requestBody, /req0_hello=world&req0_n=1/)
  await closeClient(c, s)
})

t.test('forceLongPolling: CI=1 polls, one chunk each, never an empty 200', async t => {
  const { s } = await server(t, {}, app => {
    app.webchannel.on('many', (ctx, n: number) => { for (let i = 0; i < n; i++) ctx.session.emit('seq', i) })
  })
  const c = openChannel(s.url, { sendRawJson: true, forceLongPolling: true })
  await c.opened()
  c.send({ a: ['many', 5] })
  const msgs = await c.waitForMessages(5)
  t.same(msgs, [0, 1, 2, 3, 4].map(i => ({ a: ['seq', i] })))
  // Let at least one idle poll be answered with a noop (longPollTimeout 500 ms).
  await until(() => gets(s).find(r => r.outcome === 'done' && /\["noop"\]/.test(r.responseText)), 'an idle poll answered with noop')
  const done = gets(s).filter(r => r.outcome === 'done')
  t.ok(done.every(r => /CI=1/.test(r.url)), 'every back channel is a long poll')
  for (const r of done) {
    t.equal(r.status, 200)
    const parsed = parseFrames(r.responseText)
    t.equal(parsed.chunks.length, 1, 'exactly one chunk per poll: ' + JSON.stringify(r.responseText))
    t.equal(parsed.rest, '')
  }
  await closeClient(c, s)
})

t.test('httpSessionIdParam: the sticky parameter is answered and used everywhere', async t => {
  const { s } = await server(t, {}, app => {
    app.webchannel.on('ping', (ctx) => { ctx.session.emit('pong') })
  })
  const c = openChannel(s.url, { sendRawJson: true, httpSessionIdParam: 'gsessionid' })
  await c.opened()
  c.send({ a: ['ping'] })
  await c.waitForMessages(1)
  await closeClient(c, s)
  const [hs, ...rest] = traffic(s)
  t.match(hs.url, /X-HTTP-Session-Id=gsessionid/)
  const value = hs.responseHeaders['x-http-session-id']
  t.type(value, 'string')
  t.ok(rest.length >= 3)
  for (const r of rest) t.ok(r.url.includes(`gsessionid=${value}`), 'sticky param on ' + r.url)
})

t.test('detectBufferingProxy: the immediate noop keeps the client streaming', async t => {
  // gzip off: zlib's thread-pool hop can miss a 2 × loopback-RTT window on a loaded CI machine.
  const { s } = await server(t, { gzip: false }, app => {
    app.webchannel.on('ping', (ctx) => { ctx.session.emit('pong') })
  })
  const c = openChannel(s.url, { sendRawJson: true, detectBufferingProxy: true })
  await c.opened()
  c.send({ a: ['ping'] })
  await c.waitForMessages(1)
  c.send({ a: ['ping'] })
  await c.waitForMessages(2)
  t.ok(gets(s).every(r => /CI=0/.test(r.url)), 'no fallback to long polling:\n' + describe(gets(s), s.origin))
  await closeClient(c, s)
})

t.test('messages sent with open() ride in the handshake and are answered in its single chunk', async t => {
  const { s } = await server(t, {}, app => {
    app.webchannel.on('echo', (ctx, x: unknown) => { ctx.session.emit('echo', x) })
  })
  const c = openChannel(s.url, { sendRawJson: true }, false)
  c.open()
  c.send({ a: ['echo', 'a'] })
  c.send({ a: ['echo', 'b'] })
  const msgs = await c.waitForMessages(2)
  t.same(msgs, [{ a: ['echo', 'a'] }, { a: ['echo', 'b'] }])
  const hs = traffic(s)[0]
  t.match(hs.requestBody, /^count=2&ofs=0&req0___data__=/)
  const parsed = parseFrames(hs.responseText)
  t.equal(parsed.chunks.length, 1, 'one chunk')
  t.same((parsed.chunks[0] as unknown[][]).map(a => a[0]), [0, 1, 2])
  await closeClient(c, s)
})

t.test('encodeInitMessageHeaders: allow-listed headers reach the app hooks; others do not', async t => {
  let seen: Record<string, unknown> = {}
  // Opt-in: by default no header may come from the URL or the body.
  const { s } = await server(t, { allowedHeaders: ['authorization'] }, undefined, app => {
    app.addHook('preHandler', async (request) => {
      if (request.url.startsWith('/channel') && !request.url.includes('SID=')) {
        seen = { authorization: request.headers.authorization, init: request.headers['x-init'] }
      }
    })
  })
  const c = openChannel(s.url, {
    sendRawJson: true,
    encodeInitMessageHeaders: true,
    initMessageHeaders: { Authorization: 'Bearer t', 'X-Init': 'i1' } as unknown as Record<string, never>,
  })
  await c.opened()
  t.match(traffic(s)[0].requestBody, /^headers=/)
  t.same(seen, { authorization: 'Bearer t', init: undefined })
  await closeClient(c, s)
})

t.test('server-initiated close: CLOSE without ERROR, then the client terminates', async t => {
  const { s, ended } = await server(t)
  const c = openChannel(s.url, { sendRawJson: true })
  await c.opened()
  const [session] = s.app.webchannel.sessions.values()
  session.close(1000, 'bye')
  await c.closed()
  t.same(c.events.map(e => e.type), ['open', 'close'])
  t.ok(backChannelArrays(s).some(a => JSON.stringify(a[1]) === '["close"]'))
  await until(() => traffic(s).find(r => r.url.includes('TYPE=terminate') && r.outcome !== null), 'terminate')
  t.equal(ended[0].reason, 'server-close')
})

t.test('server-initiated stop: ERROR then CLOSE, no terminate', async t => {
  const { s, ended } = await server(t)
  const c = openChannel(s.url, { sendRawJson: true })
  await c.opened()
  const [session] = s.app.webchannel.sessions.values()
  session.transport.close(1011, 'broken', 'error')
  await c.closed()
  t.same(c.events.map(e => e.type), ['open', 'error', 'close'])
  t.ok(backChannelArrays(s).some(a => JSON.stringify(a[1]) === '["stop"]'))
  t.notOk(traffic(s).some(r => r.url.includes('TYPE=terminate')), 'no terminate after stop')
  t.equal(ended[0].reason, 'error')
})

t.test('unknown SID: 400 with "Unknown SID" gives the client an error it reports', async t => {
  let bogus = false
  const s = await startWcServer({ webchannel: fast }, undefined, undefined, {
    rewriteUrl: (req) => bogus && req.method === 'POST' ? (req.url ?? '/').replace(/SID=[^&]+/, 'SID=AAAAAAAAAAAAAAAAAAAAAA') : req.url ?? '/',
  })
  t.teardown(() => s.app.close())
  const c = openChannel(s.url, { sendRawJson: true })
  await c.opened()
  bogus = true
  c.send({ a: ['x'] })
  await c.closed()
  t.same(c.events.map(e => e.type), ['open', 'error', 'close'])
  const refused = traffic(s).find(r => r.status === 400)
  t.ok(refused)
  t.ok((refused?.responseText.indexOf('Unknown SID') ?? -1) > 0, '"Unknown SID" after index 0')
})

t.test('a back channel cut mid-stream loses and duplicates nothing', async t => {
  const { s } = await server(t, {}, app => {
    app.webchannel.on('burst', (ctx, from: number, n: number) => { for (let i = from; i < from + n; i++) ctx.session.emit('n', i) })
  })
  const c = openChannel(s.url, { sendRawJson: true })
  await c.opened()
  c.send({ a: ['burst', 0, 50] })
  await c.waitForMessages(50)
  // Cut the open GET from the client side: the client sees a network error and reopens with its AID.
  const live = gets(s).find(r => r.outcome === null)
  t.ok(live)
  live?.cut()
  c.send({ a: ['burst', 50, 50] })
  await c.waitForMessages(100)
  await until(() => gets(s).filter(r => r.outcome === 'error').length >= 1 ? true : undefined, 'the cut GET')
  const seq = c.messages.map(m => (m as { a: [string, number] }).a[1])
  t.same(seq, Array.from({ length: 100 }, (_, i) => i), 'every message once, in order')
  t.ok(gets(s).length >= 2, 'the client reopened the back channel')
  await closeClient(c, s)
})

t.test('a lost forward reply: the client resends the same RID and the app sees each message once', async t => {
  const got: number[] = []
  let cut = false
  const { s } = await server(t, {}, app => {
    app.webchannel.on('n', (_ctx, i: number) => { got.push(i) })
  }, app => {
    app.addHook('onSend', async (request, _reply, payload) => {
      // Drop the first forward reply after the maps were delivered.
      if (!cut && request.method === 'POST' && request.url.includes('SID=') && !request.url.includes('TYPE=')) {
        cut = true
        request.raw.socket.destroy()
      }
      return payload
    })
  })
  const c = openChannel(s.url, { sendRawJson: true })
  await c.opened()
  c.send({ a: ['n', 1] })
  await until(() => cut ? true : undefined, 'the cut')
  c.send({ a: ['n', 2] })
  await until(() => got.length >= 2 ? true : undefined, 'both messages')
  await until(() => traffic(s).filter(r => r.method === 'POST' && r.status === 200 && r.url.includes('SID=')).length >= 1 ? true : undefined, 'an acknowledged POST')
  const posts = traffic(s).filter(r => r.method === 'POST' && r.url.includes('SID=') && !r.url.includes('TYPE='))
  const rids = posts.map(r => /RID=(\d+)/.exec(r.url)?.[1])
  t.equal(rids[0], rids[1], 'the retry keeps its RID:\n' + describe(posts, s.origin))
  t.same(got, [1, 2], 'delivered once each, in order')
  await closeClient(c, s)
})

t.test('a failing event handler: the real client sees no error, later messages arrive once each', async t => {
  const calls: number[] = []
  const { s } = await server(t, {}, app => {
    app.webchannel.on('n', (_ctx, i: number) => {
      calls.push(i)
      if (i === 1) throw new Error('not now')
    })
  })
  const c = openChannel(s.url, { sendRawJson: true })
  await c.opened()
  c.send({ a: ['n', 1] })
  c.send({ a: ['n', 2] })
  await until(() => calls.includes(2) ? true : undefined, 'message 2')
  t.same(calls, [1, 2], 'each once: a handler error is the app\'s, not a transport failure')
  t.same(c.events.filter(e => e.type === 'error'), [])
  await closeClient(c, s)
})

t.test('gzip: the streamed back channel is compressed and still delivers each chunk as it is written', async t => {
  const { s } = await server(t, {}, app => {
    app.webchannel.on('ping', (ctx, n: number) => { ctx.session.emit('pong', n) })
  })
  const c = openChannel(s.url, { sendRawJson: true })
  await c.opened()
  for (let i = 0; i < 3; i++) {
    c.send({ a: ['ping', i] })
    await c.waitForMessages(i + 1)
  }
  const g = gets(s)[0]
  t.equal(g.responseHeaders['content-encoding'], 'gzip')
  t.equal(g.outcome, null, 'delivered while the GET is still open (sync flush per chunk)')
  t.same(c.messages, [0, 1, 2].map(i => ({ a: ['pong', i] })))
  await closeClient(c, s)
})

t.test('an app that registers @fastify/compress globally still works', async t => {
  const { s } = await server(t, {}, app => {
    app.webchannel.on('ping', (ctx, n: string) => { ctx.session.emit('pong', n) })
    app.get('/big', async () => 'x'.repeat(5000))
  }, async app => {
    await app.register(compress, { global: true, threshold: 0 })
  })
  const c = openChannel(s.url, { sendRawJson: true })
  await c.opened()
  c.send({ a: ['ping', 'y'.repeat(3000)] })
  const [m] = await c.waitForMessages(1)
  t.same(m, { a: ['pong', 'y'.repeat(3000)] })
  const posts = traffic(s).filter(r => r.method === 'POST')
  // threshold 0 and the stand-in's Accept-Encoding 'gzip, deflate, br': compress picks br.
  t.ok(posts.length >= 2 && posts.every(r => r.responseHeaders['content-encoding'] === 'br'), 'handshake and forward replies go through @fastify/compress')
  const g = gets(s)[0]
  t.equal(g.responseHeaders['content-encoding'], 'gzip', 'the streaming back channel is gzipped by the plugin, not by compress')
  t.equal(g.outcome, null, 'and delivered while the GET is still open: compress did not buffer it')
  await closeClient(c, s)
  const big = await s.app.inject({ url: '/big', headers: { 'accept-encoding': 'gzip' } })
  t.equal(big.headers['content-encoding'], 'gzip', 'the app\'s own routes are still compressed')
})

t.test('fastHandshake: the c array in X-HTTP-Initial-Response, the body is the back channel', async t => {
  const { s } = await server(t, {}, app => {
    app.webchannel.on('echo', (ctx, x: unknown) => { ctx.session.emit('echo', x) })
  })
  const c = openChannel(s.url, { sendRawJson: true, fastHandshake: true }, false)
  c.open()
  c.send({ a: ['echo', 1] })
  await c.opened()
  await c.waitForMessages(1)
  c.send({ a: ['echo', 2] })
  await c.waitForMessages(2)
  t.same(c.messages, [{ a: ['echo', 1] }, { a: ['echo', 2] }])
  const hs = traffic(s)[0]
  t.equal(hs.method, 'GET')
  t.match(hs.url, /SID=null/)
  t.match(hs.responseHeaders['x-http-initial-response'], /^\[\[0,\["c",/)
  await closeClient(c, s)
})

t.test('channels, validation errors and pub/sub behave as over WebSocket', async t => {
  const { Type } = await import('typebox')
  const { s } = await server(t, {}, app => {
    app.webchannel.channel('room:*')
    app.webchannel.on('say', { args: [Type.String({ maxLength: 5 })] }, (ctx, text) => {
      app.webchannel.to('room:1').emit('said', text)
      return 'ok'
    })
  })
  const a = openChannel(s.url, { sendRawJson: true })
  const b = openChannel(s.url, { sendRawJson: true })
  await Promise.all([a.opened(), b.opened()])
  a.send({ a: ['subscribe', 'room:1'], i: 1 })
  b.send({ a: ['subscribe', 'room:1'], i: 1 })
  await Promise.all([a.waitForMessages(1), b.waitForMessages(1)])
  t.same(a.messages[0], { i: 1, d: true })
  a.send({ a: ['say', 'hello'], i: 2 })
  a.send({ a: ['say', 'too long'], i: 3 })
  await a.waitForMessages(4)
  await b.waitForMessages(2)
  t.same(b.messages[1], { c: 'room:1', a: ['said', 'hello'] })
  const rest = a.messages.slice(1)
  t.same(rest.find(m => (m as { i?: number }).i === 2), { i: 2, d: 'ok' })
  t.match(rest.find(m => (m as { i?: number }).i === 3), { i: 3, _: 1, e: { code: 'WEBCHANNEL_VALIDATION' } })
  await closeClient(a, s)
  await closeClient(b, s)
})

t.test('back channels recycled every 300 ms (a proxy cap) lose and duplicate nothing', async t => {
  const { s } = await server(t, { backChannelMaxAge: 300 }, app => {
    app.webchannel.on('tick', (ctx, i: number) => { ctx.session.emit('tock', i) })
  })
  const c = openChannel(s.url, { sendRawJson: true })
  await c.opened()
  for (let i = 0; i < 4; i++) {
    c.send({ a: ['tick', i] })
    await c.waitForMessages(i + 1)
    // Next message only after the server recycled the GET it came on.
    const recycled = gets(s).filter(r => r.outcome === 'done').length
    await until(() => gets(s).filter(r => r.outcome === 'done').length > recycled ? true : undefined, 'a recycled back channel')
  }
  t.same(c.messages, Array.from({ length: 4 }, (_, i) => ({ a: ['tock', i] })))
  t.ok(gets(s).filter(r => r.outcome === 'done').length >= 4, 'the server ended streaming GETs and the client reopened them')
  t.ok(gets(s).every(r => /CI=0/.test(r.url)), 'still streaming')
  t.same(c.events.filter(e => e.type === 'error'), [])
  await closeClient(c, s)
})
