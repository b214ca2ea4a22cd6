// Cases 26-28: authentication before the upgrade and mid-session, handler
// failures, slow consumers. Real sockets on 127.0.0.1.
import t from 'tap'
import WebSocket from 'ws'
import { bc, fwd, hostileServer, hs, maps, wcServes, wsServes } from '../helpers/hostile.js'
import { handshake, request } from '../helpers/wc-raw.js'
import { connectWs, nextFrame, refusedUpgrade } from '../helpers/ws-client.js'
import type { FastifyInstance } from 'fastify'

/** An app's token check: `?token=` names the user; a token may expire (exp=<ms epoch>). */
const tokenAuth = (app: FastifyInstance) => {
  app.addHook('onRequest', async (request, reply) => {
    const u = new URL(request.url, 'http://x')
    const token = u.searchParams.get('token')
    await new Promise(resolve => setImmediate(resolve))
    const exp = Number(u.searchParams.get('exp') ?? Infinity)
    if (token === null || !token.startsWith('user-') || exp < Date.now()) return reply.code(401).send({ error: 'Unauthorized' })
    ;(request as unknown as { user: unknown }).user = { id: token, expiresAt: exp }
  })
}

t.test('case 26: missing or invalid auth: 401 from the app\'s hook before 101 (never 101 then close), on both transports', async t => {
  const h = await hostileServer(t, {}, app => { app.webchannel.on('whoami', (ctx) => ctx.principal) }, tokenAuth)
  for (const q of ['', '?token=forged', '?token=user-a&exp=1']) {
    t.equal((await refusedUpgrade(h.s.wsUrl + q)).statusCode, 401, `upgrade ${q || '(no token)'}`)
    t.equal((await request(h.origin, hs() + q.replace('?', '&'), { body: 'count=0' })).status, 401, `handshake ${q || '(no token)'}`)
  }
  t.equal(h.s.app.webchannel.sessions.size, 0)
  // Frames sent with the upgrade, while the async hook runs, are not lost.
  const ws = new WebSocket(h.s.wsUrl + '?token=user-a')
  ws.once('open', () => ws.send(JSON.stringify({ i: 1, a: ['whoami'] })))
  t.same(await nextFrame(ws), { i: 1, d: { id: 'user-a', expiresAt: null } }, 'the request sent at open is answered')
  ws.close()
})

t.test('case 26: auth expiring mid-session: WebSocket closed with 1008, pending requests rejected; long-poll back channel gets stop', async t => {
  const h = await hostileServer(t, {}, app => { app.webchannel.on('whoami', (ctx) => ctx.principal) }, tokenAuth)
  const exp = Date.now() + 800
  const c = await connectWs(`${h.s.wsUrl}?token=user-a&exp=${exp}`)
  const wc = await request(h.origin, `${hs()}&token=user-b&exp=${exp}`, { body: 'count=0' })
  t.equal(wc.status, 200)
  const code = await Promise.race([c.closed.then(([code]) => code), new Promise(resolve => setTimeout(() => resolve('still open 3 s later'), 3000))])
  t.equal(code, 1008, 'the WebSocket is closed with 1008 once the token expired')
  c.ws.terminate()
  t.ok(Date.now() - exp < 2000, 'soon after expiry')
  const wcSid = JSON.parse(wc.body.slice(wc.body.indexOf('\n') + 1))[0][1][1]
  const g = await request(h.origin, `${bc(wcSid, 0, 1)}&token=user-b&exp=${exp}`)
  t.ok(g.status === 401 || g.body.includes('"stop"'), 'the long poll is refused or told to stop')
})

t.test('case 27: handlers that throw, reject or time out get a generic error; the process and other sessions carry on', async t => {
  const h = await hostileServer(t, { handlerTimeout: 200 }, app => {
    app.webchannel.on('throw', () => { throw new Error('secret path /srv/db.js:42') })
    app.webchannel.on('reject', async () => { throw new TypeError('secret') })
    app.webchannel.on('hang', () => new Promise(() => {}))
    app.webchannel.on('event-throws', () => { throw new Error('in an event') })
  })
  const bystander = await connectWs(h.s.wsUrl)
  const c = await connectWs(h.s.wsUrl)
  const errors: Array<{ message: string, code?: string }> = []
  for (const name of ['throw', 'reject', 'hang']) errors.push(await c.wrapper.request(name).catch((e: Error & { code?: string }) => ({ message: e.message, code: e.code })))
  t.same(errors.map(e => e.code), ['WEBCHANNEL_HANDLER_ERROR', 'WEBCHANNEL_HANDLER_ERROR', 'WEBCHANNEL_TIMEOUT'])
  t.same(errors.slice(0, 2).map(e => e.message), ['Internal error', 'Internal error'], 'generic messages')
  t.notMatch(JSON.stringify(errors), /secret|srv|db\.js/, 'no detail crosses the wire')
  c.wrapper.emit('event-throws')
  t.equal(await c.wrapper.request('echo', 'after'), 'after', 'the connection survives')
  t.equal(await bystander.wrapper.request('echo', 'fine'), 'fine', 'another connection is unaffected')
  bystander.ws.close()
  c.ws.close()
  await wcServes(t, h.origin)
})

t.test('case 27: an event handler that rejects on the long poll is answered, never a dropped connection (safer than the list\'s 500: behind a proxy a drop is a 502, and closure treats any 5xx as fatal); later maps are delivered once', async t => {
  let calls = 0
  const seen: number[] = []
  const h = await hostileServer(t, {}, app => {
    app.webchannel.on('flaky', async (_c, n: number) => {
      calls++
      if (n === 1) throw new Error('db down')
      seen.push(n)
    })
  })
  const { sid } = await handshake(h.origin)
  const first = await request(h.origin, fwd(sid, 101), { body: maps(0, { a: ['flaky', 1] }, { a: ['flaky', 2] }) })
  t.equal(first.status, 200, 'acknowledged: the handler ran, its error is the app\'s (logged)')
  const again = await request(h.origin, fwd(sid, 102), { body: maps(2, { a: ['flaky', 3] }) })
  t.equal(again.status, 200)
  t.same(seen, [2, 3])
  t.equal(calls, 3, 'each map once: nothing asked the client to resend the failing one')
  // Transport-level failures (a session ending mid-delivery) answer 503 without an ACK: test/webchannel-http.test.ts.
  await wcServes(t, h.origin)
})

t.test('case 28: a slow WebSocket consumer is closed with 1013 and never blocks other recipients', async t => {
  const h = await hostileServer(t, { websocket: { maxBufferedBytes: 256 * 1024 } }, app => { app.webchannel.channel('firehose') })
  const slow = await connectWs(h.s.wsUrl)
  const fast = await connectWs(h.s.wsUrl)
  await slow.wrapper.request('subscribe', 'firehose')
  await fast.wrapper.request('subscribe', 'firehose')
  ;(slow.ws as unknown as { _socket: import('node:net').Socket })._socket.pause()
  const count = 400
  let received = 0
  const all = new Promise<void>(resolve => fast.wrapper.of('firehose').on('blob', () => { if (++received === count) resolve() }))
  const payload = 'y'.repeat(16 * 1024)
  for (let i = 0; i < count; i++) {
    h.s.app.webchannel.to('firehose').emit('blob', i, payload)
    if (i % 20 === 0) await new Promise(resolve => setImmediate(resolve))
  }
  await all
  t.equal(received, count, 'the fast subscriber got every message')
  const end = await h.whenEnded(() => true)
  t.equal(end.code, 1013, 'the slow one was closed with 1013 (Try Again Later)')
  slow.ws.terminate()
  fast.ws.close()
  await wsServes(t, h.s.wsUrl)
})
