import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import type { WebChannelOptions } from '../lib/index.js'
import { startApp, type Started } from './helpers/app.js'
import { OpenLog } from './helpers/events.js'
import { redisApp } from './helpers/redis-app.js'
import { handshake } from './helpers/wc-raw.js'
import { connectWs, nextFrame } from './helpers/ws-client.js'

// The targeting API as a socket.io user would reach for it, on real sockets:
// to(channel).except(...).emit, all(), toSession(id), local and cluster counts.

async function withRoom (t: Test, options: WebChannelOptions = {}): Promise<Started & { opened: OpenLog }> {
  const opened = new OpenLog()
  const s = await startApp({ ...options, onConnection: opened.hook }, app => {
    app.webchannel.channel('room:*')
    app.webchannel.on('say', (ctx, room: string, text: string) => app.webchannel.to(room).except(ctx.session).emit('said', text))
  })
  t.teardown(() => s.app.close())
  return { ...s, opened }
}

t.test('to(channel).except(sender): everyone in the room but the sender hears it', async t => {
  const s = await withRoom(t)
  const [a, b, c] = await Promise.all([connectWs(s.wsUrl), connectWs(s.wsUrl), connectWs(s.wsUrl)])
  for (const x of [a, b, c]) await x.wrapper.request('subscribe', 'room:1')
  const heardB = nextFrame(b.ws)
  const heardC = nextFrame(c.ws)
  let aHeard = 0
  a.wrapper.of('room:1').on('said', () => { aHeard++ })
  t.equal(await a.wrapper.request('say', 'room:1', 'hi'), 2, 'two local deliveries: the sender is left out')
  t.same(await heardB, { c: 'room:1', a: ['said', 'hi'] })
  t.same(await heardC, { c: 'room:1', a: ['said', 'hi'] })
  // A request answered after the emit: had the sender got the event, it would have arrived first.
  t.equal(await a.wrapper.request('say', 'room:none', 'x'), 0)
  t.equal(aHeard, 0, 'the sender never got its own message')

  const ids = [...s.app.webchannel.sessions.keys()]
  t.equal(s.app.webchannel.to('room:1').except(ids[0], [ids[1]]).localCount(), 1, 'except takes ids and lists')
  t.equal(s.app.webchannel.all().except(ids[2]).emit('news', 1), 2, 'all() reaches every session but the excepted')
  for (const x of [a, b, c]) x.ws.close()
})

t.test('patterns are refused as targets, and as subscriptions', async t => {
  const s = await withRoom(t)
  t.throws(() => s.app.webchannel.to('room:*'), { code: 'FST_WEBCHANNEL_INVALID_TARGET' })
  t.throws(() => s.app.webchannel.to(''), { code: 'FST_WEBCHANNEL_INVALID_TARGET' })
  t.throws(() => s.app.webchannel.toSession('x').join('room:*'), { code: 'FST_WEBCHANNEL_INVALID_TARGET' })
  const a = await connectWs(s.wsUrl)
  const refused = await a.wrapper.request('subscribe', 'room:*').catch((e: Error & { code: string }) => e)
  t.equal(refused.code, 'WEBCHANNEL_FORBIDDEN', 'a pattern is no channel a client can join')
  a.ws.close()
})

t.test('a second raw handler is an error, not a silent replacement', async t => {
  const s = await startApp({}, app => { app.webchannel.onRaw(() => {}) })
  t.teardown(() => s.app.close())
  t.throws(() => s.app.webchannel.onRaw(() => {}), { code: 'FST_WEBCHANNEL_DUPLICATE_RAW_HANDLER' })
})

t.test('onConnection can send at once, on both transports', async t => {
  const s = await startApp({ onConnection: (session) => { session.emit('welcome', session.kind) } })
  t.teardown(() => s.app.close())
  // WebSocket: the first frame after the upgrade.
  const ws = await import('ws')
  const socket = new ws.WebSocket(s.wsUrl)
  const first = nextFrame(socket)
  t.same(await first, { a: ['welcome', 'websocket'] })
  socket.close()
  // WebChannel: the handshake reply carries `c` and then the welcome.
  const origin = new URL(s.url).origin
  const { arrays } = await handshake(origin)
  t.equal(arrays[0][1] instanceof Array && (arrays[0][1] as unknown[])[0], 'c')
  t.same(arrays[1], [1, JSON.parse('{"a":["welcome","webchannel"]}')])
})

t.test('requests during shutdown are refused with WEBCHANNEL_SHUTTING_DOWN', async t => {
  let reached!: () => void
  const hanging = new Promise<void>(resolve => { reached = resolve })
  const s = await startApp({ handlerTimeout: 0, shutdownTimeout: 2000 }, app => {
    app.webchannel.on('hang', () => { reached(); return new Promise(() => {}) })
    app.webchannel.on('echo', (_ctx, v: unknown) => v)
  })
  const a = await connectWs(s.wsUrl)
  a.wrapper.request('hang').catch(() => {})
  await hanging
  const closing = s.app.close()
  const refused = await a.wrapper.request('echo', 1).catch((e: Error & { code: string }) => e)
  t.equal(refused.code, 'WEBCHANNEL_SHUTTING_DOWN')
  await closing
})

t.test("the plugin's hooks apply to its own routes only", async t => {
  const s = await startApp({}, app => { app.get('/other', async () => 'ok') })
  t.teardown(() => s.app.close())
  const tree = s.app.printRoutes({ includeHooks: true, commonPrefix: false })
  const lines = tree.split('\n')
  const at = lines.findIndex(l => l.includes('/other (GET)'))
  t.ok(at >= 0)
  t.notMatch(lines[at + 1] ?? '', /•/, 'no hook at all on the app route')
  t.match(tree, /\/ws \(GET\)\n.*\(onRequest\)/, 'the WebSocket route keeps its hooks')
})

function redisInstance (t: Test, key: string): Promise<Started> {
  return redisApp(t, key, {}, app => { app.webchannel.channel('room:*') })
}

t.test('counts say local or cluster; a request to another instance fails at once', async t => {
  const key = 'fwc-count-' + randomBytes(6).toString('hex')
  const one = await redisInstance(t, key)
  const two = await redisInstance(t, key)
  const a = await connectWs(one.wsUrl)
  const b = await connectWs(two.wsUrl)
  const c = await connectWs(two.wsUrl)
  for (const x of [a, b, c]) await x.wrapper.request('subscribe', 'room:x')
  t.equal(one.app.webchannel.to('room:x').localCount(), 1)
  t.equal(await one.app.webchannel.to('room:x').count(), 3, 'cluster-wide through Redis')
  t.equal(await two.app.webchannel.all().count(), 3)
  const [bId] = [...two.app.webchannel.sessions.keys()]
  t.equal(await one.app.webchannel.to('room:x').except(bId).count(), 2, 'except travels to the other instance')

  // An emit that excepts a remote session skips it there.
  const heardC = nextFrame(c.ws)
  let bHeard = 0
  b.wrapper.of('room:x').on('n', () => { bHeard++ })
  one.app.webchannel.to('room:x').except(bId).emit('n', 1)
  t.same(await heardC, { c: 'room:x', a: ['n', 1] })
  t.equal(await b.wrapper.request('subscribe', 'room:x'), true, 'a round trip on b after the emit')
  t.equal(bHeard, 0, 'the excepted remote session did not get it')

  // A typed error, not a FST_WEBCHANNEL_REQUEST_TIMEOUT after requestTimeout.
  const err = await one.app.webchannel.toSession(bId).request('ask').then(() => null, (e: Error & { code: string }) => e)
  t.equal(err?.code, 'FST_WEBCHANNEL_SESSION_NOT_LOCAL')
  for (const x of [a, b, c]) x.ws.close()
})
