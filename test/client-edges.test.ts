// The client's less travelled paths, over the real WebSocket route: bad
// options, a token function that fails, listeners that throw, a client
// handler that throws a non-Error, channel emit/requestWith/off, and a
// subscription the server no longer grants after a reconnect.
import t from 'tap'
import { connect, ClientError, type ClientOptions } from '../lib/client/index.js'
import { fastReconnect, nextEvent, recordEvents, recordingWebSocket, startClientServer } from './helpers/client-server.js'

t.test('an unknown transport is refused at connect()', async t => {
  t.throws(() => connect('http://127.0.0.1:1/channel', { transport: 'carrier-pigeon' } as unknown as ClientOptions), {
    name: 'TypeError',
    message: 'transport must be "auto", "websocket" or "webchannel"',
  })
})

t.test('a token function that fails: the attempt fails with its message, nothing is opened; the next attempt uses a fresh token', async t => {
  const s = await startClientServer(() => {}, {
    principal: (request) => ({ token: (request.query as { token?: string }).token ?? null }),
  })
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  let calls = 0
  const client = connect(s.base, {
    WebSocket,
    transport: 'websocket',
    reconnect: fastReconnect,
    token: async () => {
      if (++calls === 1) throw new Error('vault sealed')
      return 'second'
    },
  })
  t.teardown(() => client.close())
  const events = recordEvents(client)
  await nextEvent(client, 'open')
  const failed = events.find(e => e[0] === 'error')?.[1] as ClientError
  t.ok(failed instanceof ClientError)
  t.equal(failed.code, 'WEBCHANNEL_CLIENT_CONNECT_FAILED')
  t.equal(failed.message, 'Could not connect (websocket: 1006 token: vault sealed)')
  t.same(events.filter(e => e[0] === 'reconnecting'), [['reconnecting', { attempt: 1, delay: 20 }]])
  t.equal(log.urls.length, 1, 'no socket was opened for the failed attempt')
  t.match(log.urls[0], /[?&]token=second(&|$)/)
  const session = await s.sessions.next()
  t.same(session.principal, { token: 'second' })
})

t.test('a wire listener that throws or rejects: an error event with the cause; later events still arrive', async t => {
  const s = await startClientServer(() => {})
  t.teardown(() => s.app.close())
  const { WebSocket } = recordingWebSocket()
  const client = connect(s.base, { WebSocket })
  t.teardown(() => client.close())
  await nextEvent(client, 'open')
  const session = await s.sessions.next()
  const errors: ClientError[] = []
  client.on('error', (err) => { errors.push(err as ClientError) })
  client.on('sync', () => { throw new Error('sync listener broke') })
  client.on('async', async () => { throw new Error('async listener broke') })
  const last = new Promise(resolve => client.on('last', resolve))
  s.app.webchannel.toSession(session.id).emit('sync')
  s.app.webchannel.toSession(session.id).emit('async')
  s.app.webchannel.toSession(session.id).emit('last', 'still here')
  t.equal(await last, 'still here')
  // The rejection is reported a microtask after the listener returned; the last event may come first.
  if (errors.length < 2) await nextEvent(client, 'error')
  t.same(errors.map(e => [e.code, (e.cause as Error).message]), [
    ['WEBCHANNEL_CLIENT_LISTENER_ERROR', 'sync listener broke'],
    ['WEBCHANNEL_CLIENT_LISTENER_ERROR', 'async listener broke'],
  ])
})

t.test('a client handler that throws a non-Error: the server gets its text with WEBCHANNEL_HANDLER_ERROR', async t => {
  const s = await startClientServer(() => {})
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket })
  t.teardown(() => client.close())
  await nextEvent(client, 'open')
  const session = await s.sessions.next()
  // A non-Error on purpose: what the server receives for it is under test.
  // eslint-disable-next-line no-throw-literal
  client.on('ask', () => { throw 'not today' })
  const err = await session.requestClient('ask').catch((e: unknown) => e) as Error & { code: string }
  t.equal(err.message, 'not today')
  t.equal(err.code, 'WEBCHANNEL_HANDLER_ERROR')
  t.same(log.sent, [{ i: 1, e: { message: 'not today', code: 'WEBCHANNEL_HANDLER_ERROR' }, _: 1 }])
})

t.test('a channel object: emit and requestWith carry the channel; off removes one listener or all', async t => {
  const heard: unknown[] = []
  const s = await startClientServer(app => {
    app.webchannel.channel('room:*')
    app.webchannel.of('room:*').on('note', (ctx, x) => { heard.push([ctx.channel, x]) })
    app.webchannel.of('room:*').on('echo', (ctx, x) => `${String(ctx.channel)}: ${String(x)}`)
  })
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket })
  t.teardown(() => client.close())
  await nextEvent(client, 'open')
  const room = client.of('room:a')
  await room.subscribe()
  room.emit('note', 1)
  t.equal(await room.requestWith({ timeout: 5000 }, 'echo', 'hi'), 'room:a: hi')
  t.same(heard, [['room:a', 1]], 'the emit was handled before the request after it')
  t.match(log.sent, [{ a: ['subscribe', 'room:a'] }, { c: 'room:a', a: ['note', 1] }, { c: 'room:a', a: ['echo', 'hi'] }])

  const got: string[] = []
  const a = (x: unknown) => { got.push('a' + String(x)) }
  const b = (x: unknown) => { got.push('b' + String(x)) }
  room.on('news', a).on('news', b)
  const mark = () => new Promise(resolve => client.once('mark', resolve))
  const session = await s.sessions.next()
  const send = async (n: number) => {
    const marked = mark()
    s.app.webchannel.to('room:a').emit('news', n)
    s.app.webchannel.toSession(session.id).emit('mark')
    await marked
  }
  await send(1)
  t.equal(room.off('news', a), room, 'off() chains')
  await send(2)
  room.off('news')
  await send(3)
  t.same(got, ['a1', 'b1', 'b2'], 'off(fn) removes that listener, off() every listener of the event')
})

t.test('a subscription the server no longer grants after a reconnect: RESUBSCRIBE_FAILED, dropped from the client', async t => {
  let granted = true
  const s = await startClientServer(app => {
    app.webchannel.channel('room:*', { authorize: (_s, name) => name !== 'room:vip' || granted })
  })
  t.teardown(() => s.app.close())
  const { WebSocket } = recordingWebSocket()
  const client = connect(s.base, { WebSocket, reconnect: fastReconnect })
  t.teardown(() => client.close())
  await nextEvent(client, 'open')
  const first = await s.sessions.next()
  await client.subscribe('room:vip')
  await client.subscribe('room:open')
  granted = false
  const failed = nextEvent(client, 'error')
  const reopened = nextEvent(client, 'open')
  s.app.webchannel.toSession(first.id).close(1012, 'Service restart')
  const err = await failed as ClientError
  t.equal(err.code, 'WEBCHANNEL_CLIENT_RESUBSCRIBE_FAILED')
  t.equal(err.channel, 'room:vip')
  t.equal(err.message, 'Could not rejoin "room:vip" after reconnecting')
  t.match(err.cause, { code: 'WEBCHANNEL_FORBIDDEN' }, 'the server\'s refusal is the cause')
  t.same(await reopened, { transport: 'websocket', reconnected: true, resumed: false, restored: ['room:open'] })
  t.same([...client.subscriptions], ['room:open'])
  const second = await s.sessions.next()
  t.same([...second.channels], ['room:open'])
})
