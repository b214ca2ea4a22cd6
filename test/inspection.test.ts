import t from 'tap'
import { startApp } from './helpers/app.js'
import { handshake } from './helpers/wc-raw.js'
import { connectWs } from './helpers/ws-client.js'

// Operators list sessions and end one: through the decorator, and through the
// optional admin route, which the app's own hooks guard.

t.test('inspect() and the admin route list sessions of both transports; DELETE closes one', async t => {
  let ended!: () => void
  const wsEnded = new Promise<void>(resolve => { ended = resolve })
  const s = await startApp({
    admin: { path: '/admin/webchannel' },
    principal: (r) => ({ id: String(r.headers['x-user'] ?? 'anon') }),
    onSessionEnd: (session) => { if (session.kind === 'websocket') ended() },
  }, app => {
    app.webchannel.channel('room:*')
  }, app => {
    app.addHook('onRequest', async (request, reply) => {
      if (request.url.startsWith('/admin') && request.headers['x-admin'] !== 'yes') return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: 'admins only' })
    })
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl, { headers: { 'x-user': 'ann' } })
  await c.wrapper.request('subscribe', 'room:1')
  await handshake(new URL(s.url).origin, '/channel', 'count=0', { 'x-user': 'bob' })

  const listed = s.app.webchannel.inspect()
  t.same(listed.map(x => [x.transport, x.principal, x.channels]).sort(), [['webchannel', 'id:bob', []], ['websocket', 'id:ann', ['room:1']]])
  t.ok(listed.every(x => x.ageMs >= 0 && x.queuedBytes >= 0))

  t.equal((await s.app.inject({ url: '/admin/webchannel' })).statusCode, 403, "the app's hook guards it")
  const res = await s.app.inject({ url: '/admin/webchannel', headers: { 'x-admin': 'yes' } })
  t.equal(res.statusCode, 200)
  t.equal(res.json().sessions.length, 2)
  t.same(res.json().stats.sessions, { websocket: 1, webchannel: 1 })

  const ws = listed.find(x => x.transport === 'websocket')!
  const del = await s.app.inject({ method: 'DELETE', url: `/admin/webchannel/${ws.id}?code=4001&reason=kicked`, headers: { 'x-admin': 'yes' } })
  t.equal(del.statusCode, 204)
  t.same(await c.closed, [4001, 'kicked'], 'the session was closed with the code and reason asked for')
  await wsEnded
  const gone = await s.app.inject({ method: 'DELETE', url: `/admin/webchannel/${ws.id}`, headers: { 'x-admin': 'yes' } })
  t.equal(gone.statusCode, 404)
  t.equal(gone.json().code, 'FST_WEBCHANNEL_NO_SUCH_SESSION')
})
