import t from 'tap'
import WebSocket from 'ws'
import type { EndReason, Session } from '../lib/index.js'
import { startApp } from './helpers/app.js'
import { connectWs, nextFrame } from './helpers/ws-client.js'

// Paths no other test walked (issue 17, defect 11), on real sockets:
// session.of(channel), a full raw inbox, an async onConnection, writeTimeout,
// and a server→client request that times out.

t.test('session.of(channel): per-session handlers, emits and requests on a named channel', async t => {
  let opened!: (s: Session) => void
  const session = new Promise<Session>(resolve => { opened = resolve })
  const s = await startApp({
    onConnection: (sess) => {
      sess.of('desk').on('ping', () => 'pong from the session')
      opened(sess)
    },
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const sess = await session
  t.equal(await c.wrapper.of('desk').request('ping'), 'pong from the session', 'a per-session channel handler answers')
  const flash = nextFrame(c.ws)
  t.equal(sess.of('news').emit('flash', 1), true)
  t.same(await flash, { c: 'news', a: ['flash', 1] })
  c.wrapper.of('quiz').on('ask', (q: string) => q + '!')
  t.equal(await sess.of('quiz').request('ask', 'why'), 'why!', 'a request on a channel, answered by the client')
  sess.of('desk').off('ping')
  const gone = await c.wrapper.of('desk').request('ping').catch((e: { code: string }) => e.code)
  t.equal(gone, 'WEBCHANNEL_NO_HANDLER', 'off() removes it')
  c.ws.close()
})

t.test('a raw inbox nobody reads closes the session with 1013 at inboxLimit', async t => {
  let reason!: (r: [EndReason, number]) => void
  const ended = new Promise<[EndReason, number]>(resolve => { reason = resolve })
  const s = await startApp({
    inboxLimit: 3,
    onConnection: (sess) => { sess.messages() }, // an iterator nobody reads
    onSessionEnd: (_s, r, code) => reason([r, code]),
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  for (let i = 0; i < 5; i++) c.ws.send('not an envelope ' + i)
  t.same(await c.closed, [1013, 'Inbound queue full'])
  t.same(await ended, ['error', 1013])
})

t.test('an async onConnection: frames sent at once wait for it, then see what it set', async t => {
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  let sawRaw!: () => void
  const rawSeen = new Promise<void>(resolve => { sawRaw = resolve })
  const s = await startApp({
    onConnection: async (sess) => {
      await gate
      sess.data.ready = 'yes'
    },
  }, app => {
    app.webchannel.on('ready', (ctx) => ctx.session.data.ready ?? 'not yet')
    // Raw frames are not held: one sent after the request proves the request arrived.
    app.webchannel.onRaw(() => sawRaw())
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  let answered = false
  const answer = c.wrapper.request('ready').then((v: unknown) => { answered = true; return v })
  c.ws.send('marker, not an envelope')
  await rawSeen
  t.equal(answered, false, 'the request waits while onConnection runs')
  release()
  t.equal(await answer, 'yes', 'and then sees what onConnection set')
  c.ws.close()
})

t.test('writeTimeout: a peer whose buffer does not drain is terminated (reason timeout)', async t => {
  let reason!: (r: EndReason) => void
  const ended = new Promise<EndReason>(resolve => { reason = resolve })
  const s = await startApp({
    websocket: { pingInterval: 100, pongTimeout: 60_000, writeTimeout: 300, maxBufferedBytes: 64 * 1024 * 1024 },
    onSessionEnd: (_s, r) => reason(r),
  }, app => { app.webchannel.channel('firehose') })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  await c.wrapper.request('subscribe', 'firehose')
  ;(c.ws as unknown as { _socket: import('node:net').Socket })._socket.pause()
  const payload = 'z'.repeat(64 * 1024)
  // Enough to fill the kernel's buffers both ways, far below maxBufferedBytes.
  for (let i = 0; i < 200; i++) s.app.webchannel.to('firehose').emit('blob', payload)
  t.equal(await ended, 'timeout')
  ;(c.ws as unknown as { _socket: import('node:net').Socket })._socket.resume()
  t.equal((await c.closed)[0], 1006, 'cut without a close frame')
})

t.test('a server→client request the client never answers fails with FST_WEBCHANNEL_REQUEST_TIMEOUT', async t => {
  let opened!: (s: Session) => void
  const session = new Promise<Session>(resolve => { opened = resolve })
  const s = await startApp({ requestTimeout: 200, onConnection: (sess) => opened(sess) })
  t.teardown(() => s.app.close())
  // A bare ws client: it receives the request and never answers.
  const ws = new WebSocket(s.wsUrl)
  await new Promise(resolve => ws.once('open', resolve))
  const sess = await session
  const asked = nextFrame(ws)
  const err = await sess.requestClient('hello').then(() => null, (e: { code: string }) => e)
  t.same((await asked).a, ['hello'])
  t.equal(err?.code, 'FST_WEBCHANNEL_REQUEST_TIMEOUT')
  ws.close()
})
