import { once } from 'node:events'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import WebSocket from 'ws'
import { startApp } from './helpers/app.js'
import { EndLog, OpenLog } from './helpers/events.js'
import { connectWs, nextFrame, refusedUpgrade } from './helpers/ws-client.js'

t.test("the app's Fastify hooks guard the upgrade", async t => {
  const s = await startApp({ principal: (req) => (req as any).user ?? null }, app => {
    app.webchannel.on('whoami', (ctx) => ctx.principal)
  }, app => {
    app.decorateRequest('user', null)
    app.addHook('onRequest', async (req, reply) => {
      const token = new URL(req.url, 'http://x').searchParams.get('token')
      // An async hook: frames the client sends at once must still arrive.
      await new Promise(resolve => setImmediate(resolve))
      if (token !== 'good') return reply.code(401).send({ error: 'Unauthorized' })
      ;(req as any).user = { id: 'u1', name: 'alice' }
    })
  })
  t.teardown(() => s.app.close())
  const refused = await refusedUpgrade(s.wsUrl + '?token=bad')
  t.equal(refused.statusCode, 401)
  t.same(refused.body, { error: 'Unauthorized' })

  const ws = new WebSocket(s.wsUrl + '?token=good')
  // Sent in the same tick as open: nothing may be lost.
  ws.once('open', () => ws.send(JSON.stringify({ i: 1, a: ['whoami'] })))
  t.same(await nextFrame(ws), { i: 1, d: { id: 'u1', name: 'alice' } })
  ws.close()
})

t.test('origin check: same-origin by default, allow-lists, RegExp and functions', async t => {
  const s = await startApp()
  t.teardown(() => s.app.close())
  const cross = await refusedUpgrade(s.wsUrl, { origin: 'http://evil.example' })
  t.equal(cross.statusCode, 403)
  t.equal(cross.body.code, 'FST_WEBCHANNEL_ORIGIN_FORBIDDEN')
  const same = await connectWs(s.wsUrl, { origin: `http://127.0.0.1:${s.port}` })
  same.ws.close()
  const noOrigin = await connectWs(s.wsUrl)
  noOrigin.ws.close()

  const listed = await startApp({ origin: ['https://app.example', /^https:\/\/[a-z]+\.trusted\.dev$/] })
  t.teardown(() => listed.app.close())
  ;(await connectWs(listed.wsUrl, { origin: 'https://APP.example:443' })).ws.close()
  ;(await connectWs(listed.wsUrl, { origin: 'https://eu.trusted.dev' })).ws.close()
  t.equal((await refusedUpgrade(listed.wsUrl, { origin: 'https://app.example.evil.com' })).statusCode, 403)
  t.equal((await refusedUpgrade(listed.wsUrl, { origin: `http://127.0.0.1:${listed.port}` })).statusCode, 403)

  const fn = await startApp({ origin: (origin) => origin.endsWith('.ok') })
  t.teardown(() => fn.app.close())
  ;(await connectWs(fn.wsUrl, { origin: 'http://a.ok' })).ws.close()
  t.equal((await refusedUpgrade(fn.wsUrl, { origin: 'http://a.no' })).statusCode, 403)
})

t.test('subprotocol negotiation and required-subprotocol mode', async t => {
  const s = await startApp({ websocket: { subprotocols: ['chat.v2', 'chat.v1'], requireSubprotocol: true } })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl, { protocols: ['chat.v1', 'chat.v2'] })
  t.equal(c.ws.protocol, 'chat.v2', "the server's preference wins")
  c.ws.close()
  const old = await connectWs(s.wsUrl, { protocols: ['chat.v1'] })
  t.equal(old.ws.protocol, 'chat.v1')
  old.ws.close()
  const none = await refusedUpgrade(s.wsUrl)
  t.equal(none.statusCode, 400)
  t.equal(none.body.code, 'FST_WEBCHANNEL_SUBPROTOCOL_REQUIRED')
})

t.test('a plain GET on the WebSocket route gets 426', async t => {
  const s = await startApp()
  t.teardown(() => s.app.close())
  const res = await fetch(s.wsUrl.replace('ws:', 'http:'))
  t.equal(res.status, 426)
  t.equal((await res.json()).code, 'FST_WEBCHANNEL_UPGRADE_REQUIRED')
})

t.test('oversize messages close with 1009, counted after decompression', async t => {
  const ended = new EndLog()
  const s = await startApp({ onSessionEnd: ended.hook, websocket: { maxMessageSize: 1024, perMessageDeflate: true } })
  t.teardown(() => s.app.close())
  const plain = await connectWs(s.wsUrl, { perMessageDeflate: false })
  plain.ws.send('x'.repeat(2048))
  t.equal((await plain.closed)[0], 1009)
  // 64 KiB of zeros compresses to a few hundred bytes; the inflated size counts.
  const deflated = await connectWs(s.wsUrl, { perMessageDeflate: true })
  t.ok(deflated.ws.extensions.includes('permessage-deflate'), 'deflate negotiated')
  deflated.ws.send('0'.repeat(65536))
  t.equal((await deflated.closed)[0], 1009)
  const ends = await ended.count(2)
  t.same(ends.map(e => e.reason), ['error', 'error'])
})

t.test('an open session does not keep the upgrade\'s reply and response alive', async t => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const refs: Array<WeakRef<object>> = []
  const s = await startApp({}, app => {
    app.webchannel.on('ping', () => 'pong')
  }, app => {
    app.addHook('onRequest', (_req, reply, done) => {
      refs.push(new WeakRef(reply), new WeakRef(reply.raw))
      done()
    })
  })
  t.teardown(() => s.app.close())
  const { ws } = await connectWs(s.wsUrl)
  ws.send(JSON.stringify({ i: 1, a: ['ping'] }))
  t.same(await nextFrame(ws), { i: 1, d: 'pong' })
  t.equal(refs.length, 2)
  // Collection is not promised after one gc(); a few rounds across turns settle it.
  for (let i = 0; i < 5 && refs.some(r => r.deref() !== undefined); i++) {
    await new Promise(resolve => setImmediate(resolve))
    gc()
  }
  t.same(refs.map(r => r.deref() === undefined), [true, true], 'Reply and ServerResponse collected')
  t.equal(s.app.webchannel.sessions.size, 1, 'while the session is open')
  ws.send(JSON.stringify({ i: 2, a: ['ping'] }))
  t.same(await nextFrame(ws), { i: 2, d: 'pong' })
  ws.close()
})

t.test('permessage-deflate round trip', async t => {
  const s = await startApp({ websocket: { perMessageDeflate: { level: 1, threshold: 16 } } }, app => {
    app.webchannel.on('echo', (_c, x) => x)
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl, { perMessageDeflate: true })
  const big = 'abc'.repeat(5000)
  t.equal(await c.wrapper.request('echo', big), big)
  c.ws.close()
})

t.test('a dead peer (no pongs) is terminated with reason timeout', async t => {
  const ended = new EndLog()
  const s = await startApp({ onSessionEnd: ended.hook, websocket: { pingInterval: 100, pongTimeout: 100 } })
  t.teardown(() => s.app.close())
  const alive = await connectWs(s.wsUrl)
  const dead = await connectWs(s.wsUrl, { autoPong: false })
  const [code] = await dead.closed
  t.equal(code, 1006, 'cut without a close frame')
  const [end] = await ended.count(1)
  t.equal(end.reason, 'timeout')
  t.equal(alive.ws.readyState, WebSocket.OPEN, 'a peer that answers pings stays')
  alive.ws.close()
})

t.test('a slow consumer is closed with 1013 and never blocks other recipients', async t => {
  const ended = new EndLog()
  const opened = new OpenLog()
  const s = await startApp({ onSessionEnd: ended.hook, onConnection: opened.hook, websocket: { maxBufferedBytes: 256 * 1024 } }, app => {
    app.webchannel.channel('firehose')
  })
  t.teardown(() => s.app.close())
  const slow = await connectWs(s.wsUrl)
  const fast = await connectWs(s.wsUrl)
  await slow.wrapper.request('subscribe', 'firehose')
  await fast.wrapper.request('subscribe', 'firehose')
  // The slow client stops reading from its socket.
  ;(slow.ws as any)._socket.pause()
  let received = 0
  const count = 400
  const all = new Promise<void>(resolve => fast.wrapper.of('firehose').on('blob', () => { if (++received === count) resolve() }))
  const payload = 'y'.repeat(16 * 1024)
  for (let i = 0; i < count; i++) {
    s.app.webchannel.to('firehose').emit('blob', i, payload)
    if (i % 20 === 0) await new Promise(resolve => setImmediate(resolve))
  }
  await all
  t.equal(received, count, 'the fast subscriber got every message')
  const [end] = await ended.count(1)
  t.equal(end.code, 1013, 'closed as a slow consumer')
  t.equal(end.reason, 'error')
  t.equal(end.session.id, (await opened.nth(1)).id, 'it was the slow one')
  // The close frame queues behind what the peer never read: a peer that reads nothing is cut a second later.
  ;(slow.ws as any)._socket.resume()
  t.equal((await slow.closed)[0], 1006, 'the slow peer itself sees the connection cut, as the README says')
  fast.ws.close()
})

t.test('handshake timeout: hooks that never finish get 408', async t => {
  const s = await startApp({ websocket: { handshakeTimeout: 200 } }, undefined, app => {
    app.addHook('onRequest', (req, _reply, done) => {
      if (req.url.includes('hang')) return // never calls done
      done()
    })
  })
  t.teardown(() => s.app.close())
  const r = await refusedUpgrade(s.wsUrl + '?hang=1')
  t.equal(r.statusCode, 408)
  const ok = await connectWs(s.wsUrl)
  ok.ws.close()
})

t.test('low-level API: raw frames, binary, async iteration, close codes', async t => {
  const opened = new OpenLog()
  const s = await startApp({ onConnection: opened.hook })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const session = await opened.nth(1)
  t.equal(session.kind, 'websocket')
  t.equal(session.subprotocol, null)
  t.equal(session.request.url, '/channel/ws')
  t.equal(typeof session.id, 'string')
  t.ok(Buffer.from(session.id, 'base64url').length >= 16, 'at least 128 bits')
  const inbox = session.messages()[Symbol.asyncIterator]()
  c.ws.send('plain text')
  c.ws.send(Buffer.from([1, 2, 3]))
  c.ws.send(JSON.stringify({ 'ws-wrapper': false, mine: true }))
  t.equal((await inbox.next()).value, 'plain text')
  t.same((await inbox.next()).value, Buffer.from([1, 2, 3]))
  t.same((await inbox.next()).value, JSON.stringify({ 'ws-wrapper': false, mine: true }))

  const text = once(c.ws, 'message')
  session.sendRaw('raw out')
  t.equal(String((await text)[0]), 'raw out')
  const bin = once(c.ws, 'message')
  session.sendBinary(Buffer.from([9, 8]))
  const [data, isBinary] = await bin
  t.same(data, Buffer.from([9, 8]))
  t.equal(isBinary, true)

  session.close(4001, 'bye now')
  t.same(await c.closed, [4001, 'bye now'])
  if (!session.signal.aborted) await once(session.signal, 'abort')
  t.equal(session.endReason, 'server-close')
  t.same(await inbox.next(), { value: undefined, done: true }, 'the iterator ends with the session')
})

t.test('sessions per principal are capped', async t => {
  const s = await startApp({ maxSessionsPerPrincipal: 2, principal: (req) => req.headers['x-user'] ?? null })
  t.teardown(() => s.app.close())
  const a = await connectWs(s.wsUrl, { headers: { 'x-user': 'bob' } })
  const b = await connectWs(s.wsUrl, { headers: { 'x-user': 'bob' } })
  const third = await refusedUpgrade(s.wsUrl, { headers: { 'x-user': 'bob' } })
  t.equal(third.statusCode, 429)
  const other = await connectWs(s.wsUrl, { headers: { 'x-user': 'carol' } })
  a.ws.close()
  await a.closed
  b.ws.close()
  other.ws.close()
})

t.test('no sessions leak when many clients vanish', async t => {
  const ended = new EndLog()
  const s = await startApp({ onSessionEnd: ended.hook }, app => { app.webchannel.channel('x') })
  t.teardown(() => s.app.close())
  const clients = await Promise.all(Array.from({ length: 50 }, () => connectWs(s.wsUrl)))
  await Promise.all(clients.map(c => c.wrapper.request('subscribe', 'x')))
  t.equal(s.app.webchannel.sessions.size, 50)
  clients.forEach((c, i) => { if (i % 2 === 0) c.ws.terminate(); else (c.ws as any)._socket.destroy() })
  await ended.count(50)
  t.equal(s.app.webchannel.sessions.size, 0)
  t.equal(s.app.webchannel.to('x').localCount(), 0)
})
