import t from 'tap'
import { startApp } from './helpers/app.js'
import { EndLog, OpenLog } from './helpers/events.js'
import { connectWs, nextFrame } from './helpers/ws-client.js'

t.test('subscribe, receive a broadcast on the channel, unsubscribe', async t => {
  const opened = new OpenLog()
  const s = await startApp({ onConnection: opened.hook }, app => {
    app.webchannel.channel('room:*', { authorize: (session, name) => name !== 'room:admins' || (session.request.headers['x-user'] === 'admin') })
  })
  t.teardown(() => s.app.close())
  const alice = await connectWs(s.wsUrl)
  const admin = await connectWs(s.wsUrl, { headers: { 'x-user': 'admin' } })
  t.equal(await alice.wrapper.request('subscribe', 'room:lobby'), true)
  t.equal(await admin.wrapper.request('subscribe', 'room:lobby'), true)
  t.equal(s.app.webchannel.to('room:lobby').localCount(), 2)

  const got = (c: typeof alice) => new Promise(resolve => c.wrapper.of('room:lobby').once('chat.message', (m: unknown) => resolve(m)))
  const [a, b] = [got(alice), got(admin)]
  t.equal(s.app.webchannel.to('room:lobby').emit('chat.message', { text: 'hello' }), 2, 'delivered to both')
  t.same(await Promise.all([a, b]), [{ text: 'hello' }, { text: 'hello' }])

  // The frame on the wire is the ws-wrapper channel event shape.
  const raw = nextFrame(alice.ws)
  s.app.webchannel.to('room:lobby').emit('tick', 1, 'two')
  t.same(await raw, { c: 'room:lobby', a: ['tick', 1, 'two'] })

  t.equal(await alice.wrapper.request('unsubscribe', 'room:lobby'), true)
  t.equal(s.app.webchannel.to('room:lobby').localCount(), 1)
  t.equal(s.app.webchannel.to('room:lobby').emit('chat.message', { text: 'only admin' }), 1)
  alice.ws.close()
  admin.ws.close()
})

t.test('refusals are generic: undeclared, unauthorized, throwing authorize, malformed', async t => {
  const s = await startApp({}, app => {
    app.webchannel.channel('room:*', {
      authorize: (_s, name) => {
        if (name === 'room:boom') throw new Error('db down')
        return name !== 'room:admins'
      },
    })
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const errors = []
  for (const name of ['room:admins', 'secret', 'room:boom', 42, '', 'x'.repeat(300)]) {
    errors.push(await c.wrapper.request('subscribe', name).then(() => null, (e: Error) => ({ message: e.message, code: (e as any).code, keys: Object.keys(e).sort() })))
  }
  for (const e of errors) t.same(e, errors[0], 'every refusal looks the same')
  t.same(errors[0], { message: 'Forbidden', code: 'WEBCHANNEL_FORBIDDEN', keys: ['code'] }, 'no detail beyond the code')
  t.equal(s.app.webchannel.to('room:admins').localCount(), 0)
  c.ws.close()
})

t.test('channel events from a client need a subscription to a declared channel', async t => {
  const s = await startApp({}, app => {
    app.webchannel.channel('room:*')
    app.webchannel.of('room:*').on('typing', (ctx) => `typing in ${ctx.channel}`)
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const refused = await c.wrapper.of('room:a').request('typing').catch((e: Error) => e)
  t.equal(refused.code, 'WEBCHANNEL_FORBIDDEN')
  await c.wrapper.request('subscribe', 'room:a')
  t.equal(await c.wrapper.of('room:a').request('typing'), 'typing in room:a')
  c.ws.close()
})

t.test('emit to one session, to all, and server-side join/leave', async t => {
  const opened = new OpenLog()
  const s = await startApp({ onConnection: opened.hook }, app => { app.webchannel.channel('news') })
  t.teardown(() => s.app.close())
  const one = await connectWs(s.wsUrl)
  const two = await connectWs(s.wsUrl)
  const [s1, s2] = [await opened.nth(1), await opened.nth(2)]

  const direct = nextFrame(one.ws)
  t.equal(s.app.webchannel.toSession(s1.id).emit('direct', 'only you'), 1)
  t.same(await direct, { a: ['direct', 'only you'] })
  t.equal(s.app.webchannel.toSession('no-such-session').emit('direct', 'x'), 0)

  const all = Promise.all([nextFrame(one.ws), nextFrame(two.ws)])
  t.equal(s.app.webchannel.all().emit('hello', 1), 2)
  t.same(await all, [{ a: ['hello', 1] }, { a: ['hello', 1] }])

  t.equal(s.app.webchannel.toSession(s2.id).join('news'), true)
  const news = nextFrame(two.ws)
  t.equal(s.app.webchannel.to('news').emit('flash', 'x'), 1)
  t.same(await news, { c: 'news', a: ['flash', 'x'] })
  t.equal(s.app.webchannel.toSession(s2.id).leave('news'), true)
  t.equal(s.app.webchannel.to('news').emit('flash', 'y'), 0)
  one.ws.close()
  two.ws.close()
})

t.test('session end frees every membership', async t => {
  const ended = new EndLog()
  const s = await startApp({ onSessionEnd: ended.hook }, app => { app.webchannel.channel('c:*') })
  t.teardown(() => s.app.close())
  const clients = await Promise.all(Array.from({ length: 10 }, () => connectWs(s.wsUrl)))
  for (const c of clients) {
    await c.wrapper.request('subscribe', 'c:1')
    await c.wrapper.request('subscribe', 'c:2')
  }
  t.equal(s.app.webchannel.to('c:1').localCount(), 10)
  for (const c of clients.slice(0, 5)) c.ws.terminate()
  for (const c of clients.slice(5)) c.ws.close()
  await ended.count(10)
  t.equal(s.app.webchannel.to('c:1').localCount(), 0)
  t.equal(s.app.webchannel.to('c:2').localCount(), 0)
  t.equal(s.app.webchannel.sessions.size, 0)
  t.same(new Set(ended.ends.map(e => e.reason)), new Set(['client-close']))
})
