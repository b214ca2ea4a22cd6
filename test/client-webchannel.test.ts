// The client over the real WebChannel (long-poll) routes, through closure's
// client in Node. The XMLHttpRequest stand-in records every HTTP request, so
// the tests assert what crossed the wire: the token on every request, the
// envelopes in the forward bodies, the arrays on the back channel.
import t from 'tap'
import WebSocket from 'ws'
import { connect, type Client, type EventMap, type RemoteError } from '../lib/client/index.js'
import { closeAll, fastReconnect, nextEvent, recordEvents, startClientServer } from './helpers/client-server.js'
import { installXhr, xhrLog } from './helpers/wc-xhr.js'

installXhr()

function open<E extends EventMap> (client: Client<E>): Promise<unknown> {
  return nextEvent(client, 'open')
}

/** Forward bodies (client→server maps) sent to this server, decoded. */
function forwardData (origin: string): unknown[] {
  const out: unknown[] = []
  for (const r of xhrLog) {
    if (!r.url.startsWith(origin) || r.method !== 'POST') continue
    for (const [k, v] of new URLSearchParams(r.requestBody)) if (/^req\d+___data__$/.test(k)) out.push(JSON.parse(v))
  }
  return out
}

t.test('forced webchannel: requests, channels and the token on every request', async t => {
  const s = await startClientServer(app => {
    app.webchannel.on('echo', (_ctx, x) => x)
    app.webchannel.on('whoami', (ctx) => ctx.principal)
    app.webchannel.channel('room:*')
  }, {}, app => {
    app.addHook('onRequest', async (req, reply) => {
      if (!req.url.startsWith('/channel')) return
      if ((req.query as Record<string, string>).token !== 'tk') return reply.code(401).send({ message: 'no' })
      ;(req as unknown as { user: string }).user = 'wendy'
    })
  })
  const origin = new URL(s.base).origin
  const client = connect(s.base, { transport: 'webchannel', token: 'tk' })
  t.teardown(() => closeAll(s.app, client))
  const events = recordEvents(client)
  t.same(await open(client), { transport: 'webchannel', reconnected: false, resumed: false, restored: [] })
  t.equal(client.transport, 'webchannel')
  t.same(await client.request('echo', { text: 'héllo 😀' }), { text: 'héllo 😀' })
  t.equal(await client.request('whoami'), 'wendy')
  await client.subscribe('room:a')
  const heard = new Promise(resolve => client.of('room:a').once('said', (...args) => resolve(args)))
  s.app.webchannel.to('room:a').emit('said', 'x', 1)
  t.same(await heard, ['x', 1])
  client.emit('fire', 'and forget')

  t.match(forwardData(origin), [
    { i: 1, a: ['echo', { text: 'héllo 😀' }] },
    { i: 2, a: ['whoami'] },
    { i: 3, a: ['subscribe', 'room:a'] },
  ])
  const mine = xhrLog.filter(r => r.url.startsWith(origin))
  t.ok(mine.length >= 4)
  for (const r of mine) t.equal(new URL(r.url).searchParams.get('token'), 'tk', `token on ${r.method} ${new URL(r.url).search.slice(0, 40)}`)
  // The answers arrived as back-channel arrays carrying the same envelopes.
  t.ok(mine.some(r => r.responseText.includes('{"i":1,"d":{"text":"héllo 😀"}}')))
  t.same(events.filter(e => e[0] === 'transport'), [['transport', { transport: 'webchannel', previous: null }]])
})

t.test('webchannelAuth: header sends Authorization: Bearer instead of the parameter', async t => {
  const s = await startClientServer(app => {
    app.webchannel.on('whoami', (ctx) => ctx.principal)
  }, {}, app => {
    app.addHook('onRequest', async (req, reply) => {
      if (!req.url.startsWith('/channel') || req.url.includes('TYPE=terminate')) return
      if (req.headers.authorization !== 'Bearer hdr') return reply.code(401).send({ message: 'no' })
      ;(req as unknown as { user: string }).user = 'hank'
    })
  })
  const origin = new URL(s.base).origin
  const client = connect(s.base, { transport: 'webchannel', token: 'hdr', webchannelAuth: 'header' })
  t.teardown(() => closeAll(s.app, client))
  await open(client)
  t.equal(await client.request('whoami'), 'hank')
  const mine = xhrLog.filter(r => r.url.startsWith(origin))
  for (const r of mine) {
    t.equal(new URL(r.url).searchParams.get('token'), null)
    t.equal(r.requestHeaders.Authorization ?? r.requestHeaders.authorization, 'Bearer hdr')
  }
})

t.test('webchannel reconnect after a server-side close restores subscriptions', async t => {
  let reached!: () => void
  const hangReached = new Promise<void>(resolve => { reached = resolve })
  const s = await startClientServer(app => {
    app.webchannel.channel('room:*')
    app.webchannel.on('hang', () => { reached(); return new Promise(() => {}) })
  }, { handlerTimeout: 0, shutdownTimeout: 100 })
  const client = connect(s.base, { transport: 'webchannel', reconnect: fastReconnect, requestTimeout: 0 })
  t.teardown(() => closeAll(s.app, client))
  await open(client)
  const first = await s.sessions.next()
  await client.subscribe('room:w')
  const hang = client.request('hang').catch((e: unknown) => e)
  await hangReached
  const closed = nextEvent(client, 'close')
  const reopened = nextEvent(client, 'open')
  s.app.webchannel.toSession(first.id).close(1012, 'restart')
  t.match(await closed, { transport: 'webchannel', willReconnect: true })
  t.equal(((await hang) as RemoteError).code, 'WEBCHANNEL_CLIENT_DISCONNECTED')
  t.same(await reopened, { transport: 'webchannel', reconnected: true, resumed: false, restored: ['room:w'] })
  const second = await s.sessions.next()
  t.not(second.id, first.id)
  t.same([...second.channels], ['room:w'])
})

t.test('a WebSocket client and a WebChannel client share a room', async t => {
  const s = await startClientServer(app => {
    app.webchannel.channel('room:*')
    app.webchannel.of('room:*').on('say', (ctx, text: string) => {
      app.webchannel.to(ctx.channel!).emit('said', text)
      return true
    })
  })
  const a = connect(s.base, { transport: 'websocket', WebSocket })
  const b = connect(s.base, { transport: 'webchannel' })
  t.teardown(() => closeAll(s.app, a, b))
  await Promise.all([open(a), open(b)])
  await Promise.all([a.subscribe('room:mix'), b.subscribe('room:mix')])
  const bHears = new Promise(resolve => b.of('room:mix').once('said', resolve))
  const aHears = new Promise(resolve => a.of('room:mix').once('said', resolve))
  t.equal(await a.of('room:mix').request('say', 'from ws'), true)
  t.equal(await bHears, 'from ws')
  t.equal(await aHears, 'from ws')
  const aHears2 = new Promise(resolve => a.of('room:mix').once('said', resolve))
  t.equal(await b.of('room:mix').request('say', 'from wc'), true)
  t.equal(await aHears2, 'from wc')
})

t.test('a server that dies without a word is noticed within seconds; the client moves to its successor', async t => {
  const setup = (app: import('fastify').FastifyInstance) => { app.webchannel.channel('room:*') }
  const s1 = await startClientServer(setup)
  const client = connect(s1.base, { transport: 'webchannel', reconnect: { initialDelay: 50, maxDelay: 50, jitter: 0 } })
  t.teardown(() => client.close())
  await open(client)
  await client.subscribe('room:x')
  // A crash, not a shutdown: no `close` on the back channel, every socket cut,
  // nothing listening. Closure's own retries of the back channel hit a refused
  // port, with their delays from the client's retryDelay (default 1 s).
  const closed = nextEvent(client, 'close')
  const started = Date.now()
  s1.app.server.close()
  s1.app.server.closeAllConnections()
  const info = await closed
  const noticedMs = Date.now() - started
  t.match(info, { code: 1006, transport: 'webchannel', willReconnect: true })
  // With closure's default retry delay (5 s + up to 10 s, × attempt) this is at least 15 s.
  t.ok(noticedMs < 10_000, `noticed after ${noticedMs} ms`)
  const reopened = nextEvent(client, 'open')
  const s2 = await startClientServer(setup, {}, undefined, s1.port)
  t.teardown(() => s2.app.close())
  t.teardown(() => s1.app.close())
  t.same(await reopened, { transport: 'webchannel', reconnected: true, resumed: false, restored: ['room:x'] })
  t.equal(s2.app.webchannel.to('room:x').localCount(), 1)
})
