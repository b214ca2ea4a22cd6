import t from 'tap'
import type { Session } from '../lib/index.js'
import { MemoryAdapter } from '../lib/index.js'
import { startApp } from './helpers/app.js'
import { handshake } from './helpers/wc-raw.js'
import { connectWs, nextFrame } from './helpers/ws-client.js'

// Edges of the hub and the router that the feature tests pass by: failing app
// hooks, once/off, raw and binary sends, unsubscribe, a replaced adapter.

t.test('an onConnection that throws closes the session with 1011; a throwing onSessionEnd or raw handler harms nothing', async t => {
  const s = await startApp({
    onConnection: (session) => { if (session.request.headers['x-boom'] === '1') throw new Error('boom') },
    onSessionEnd: () => { throw new Error('end hook broke') },
  }, app => {
    app.webchannel.onRaw(() => { throw new Error('raw hook broke') })
    app.webchannel.on('echo', (_c, v: unknown) => v)
  })
  t.teardown(() => s.app.close())
  const bad = await connectWs(s.wsUrl, { headers: { 'x-boom': '1' } })
  t.same(await bad.closed, [1011, 'Internal error'])
  const good = await connectWs(s.wsUrl)
  good.ws.send('raw text the hook throws on')
  t.equal(await good.wrapper.request('echo', 'still'), 'still', 'the session survived its raw hook throwing')
  good.ws.close()
  await good.closed
  const again = await connectWs(s.wsUrl)
  t.equal(await again.wrapper.request('echo', 'up'), 'up', 'the server survived onSessionEnd throwing')
  again.ws.close()
})

t.test('once and off, on the main channel and a named one; unsubscribe', async t => {
  const s = await startApp({}, app => {
    app.webchannel.once('first', () => 'only once')
    app.webchannel.on('gone', () => 'here')
    app.webchannel.of('desk').once('ring', () => 'ding').on('bell', () => 'dong')
    app.webchannel.channel('room:*')
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const code = (p: Promise<unknown>) => p.then(v => v, (e: { code: string }) => e.code)
  t.equal(await c.wrapper.request('first'), 'only once')
  t.equal(await code(c.wrapper.request('first')), 'WEBCHANNEL_NO_HANDLER')
  s.app.webchannel.off('gone')
  t.equal(await code(c.wrapper.request('gone')), 'WEBCHANNEL_NO_HANDLER')
  t.equal(await c.wrapper.of('desk').request('ring'), 'ding')
  t.equal(await code(c.wrapper.of('desk').request('ring')), 'WEBCHANNEL_NO_HANDLER')
  s.app.webchannel.of('desk').off('bell')
  t.equal(await code(c.wrapper.of('desk').request('bell')), 'WEBCHANNEL_NO_HANDLER')
  t.equal(await c.wrapper.request('subscribe', 'room:1'), true)
  t.equal(s.app.webchannel.to('room:1').localCount(), 1)
  t.equal(await c.wrapper.request('unsubscribe', 'room:1'), true)
  t.equal(s.app.webchannel.to('room:1').localCount(), 0)
  c.ws.close()
})

t.test('sendRaw and sendBinary: as they are on WebSocket; binary is refused on WebChannel', async t => {
  let ws!: (s: Session) => void
  const wsSession = new Promise<Session>(resolve => { ws = resolve })
  const wcSessions: Session[] = []
  const s = await startApp({ onConnection: (sess) => { if (sess.kind === 'websocket') ws(sess); else wcSessions.push(sess) } })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const sess = await wsSession
  const raw = new Promise<string>(resolve => c.ws.once('message', (d, binary) => resolve(binary ? 'binary' : String(d))))
  t.equal(sess.sendRaw('plain text'), true)
  t.equal(await raw, 'plain text')
  const bin = new Promise<Buffer>(resolve => c.ws.once('message', (d) => resolve(d as Buffer)))
  t.equal(sess.sendBinary(Buffer.from([9, 8])), true)
  t.same([...await bin], [9, 8])
  await handshake(new URL(s.url).origin)
  t.equal(wcSessions[0].sendBinary(Buffer.from([1])), false, 'WebChannel carries text only')
  sess.close()
  t.same(await c.closed, [1000, ''], 'close() defaults to 1000')
  t.equal(sess.sendRaw('late'), false, 'a closed session sends nothing')
})

t.test('setAdapter replaces the fan-out at run time', async t => {
  const s = await startApp({}, app => { app.webchannel.channel('news') })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  await c.wrapper.request('subscribe', 'news')
  await s.app.webchannel.setAdapter(new MemoryAdapter())
  const heard = nextFrame(c.ws)
  t.equal(s.app.webchannel.to('news').emit('flash', 1), 1)
  t.same(await heard, { c: 'news', a: ['flash', 1] })
  t.equal(await s.app.webchannel.to('news').count(), 1, 'the in-memory adapter counts this instance')
  c.ws.close()
})
