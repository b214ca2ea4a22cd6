// The client over the real WebSocket route: requests, timeouts, abort, listeners,
// channels, server→client requests, reconnect with restored subscriptions, and
// the lifecycle events. Frames are recorded at the client's socket.
import t, { type Test } from 'tap'
import { Type } from 'typebox'
import { connect, ClientError, RemoteError, defineEvents, type Client, type EventMap } from '../lib/client/index.js'
import { WireError } from '../lib/errors.js'
import { fastReconnect, nextEvent, recordEvents, recordingWebSocket, startClientServer } from './helpers/client-server.js'

function open<E extends EventMap> (t: Test, client: Client<E>): Promise<unknown> {
  t.teardown(() => client.close())
  return nextEvent(client, 'open')
}

t.test('request/response crosses the wire as ws-wrapper envelopes', async t => {
  const s = await startClientServer(app => {
    app.webchannel.on('echo', (_ctx, x) => x)
    app.webchannel.on('add', (_ctx, a: number, b: number) => a + b)
  })
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket, transport: 'websocket' })
  const info = await open(t, client)
  t.same(info, { transport: 'websocket', reconnected: false, resumed: false, restored: [] })
  t.same(await client.request('echo', { a: [1, 'é'] }), { a: [1, 'é'] })
  t.equal(await client.request('add', 2, 3), 5)
  t.same(log.sent, [{ i: 1, a: ['echo', { a: [1, 'é'] }] }, { i: 2, a: ['add', 2, 3] }])
  t.same(log.received, [{ i: 1, d: { a: [1, 'é'] } }, { i: 2, d: 5 }])
  t.equal(log.urls[0], `${s.wsUrl}?resume=1`, 'a resumable session asked for')
  t.equal(client.transport, 'websocket')
  t.equal(client.state, 'open')
})

t.test('messages sent before the connection opens wait for it', async t => {
  const s = await startClientServer(app => {
    app.webchannel.on('echo', (_ctx, x) => x)
  })
  t.teardown(() => s.app.close())
  const got: unknown[] = []
  const seen = new Promise<void>(resolve => {
    s.app.webchannel.on('note', (_ctx, x) => { got.push(x); resolve() })
  })
  const { WebSocket } = recordingWebSocket()
  const client = connect(s.base, { WebSocket })
  t.teardown(() => client.close())
  t.equal(client.state, 'connecting')
  client.emit('note', 'early')
  t.equal(await client.request('echo', 7), 7)
  await seen
  t.same(got, ['early'])
})

t.test('a server error arrives as RemoteError with its code and fields', async t => {
  const events = defineEvents({
    typed: { args: [Type.Object({ text: Type.String({ maxLength: 3 }) })], response: Type.Number() },
    // Untyped events are declared too: a typed client only knows declared names.
    refuse: {},
    crash: {},
    nobody: {},
  })
  const s = await startClientServer(app => {
    app.webchannel.on('typed', events.typed, (_ctx, m) => m.text.length)
    app.webchannel.on('refuse', () => { throw new WireError('APP_NOPE', 'No way', { hint: 42 }) })
    app.webchannel.on('crash', () => { throw new Error('secret detail') })
  })
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  const client = connect<typeof events>(s.base, { WebSocket })
  await open(t, client)
  t.equal(await client.request('typed', { text: 'abc' }), 3)
  const err = await client.request('typed', { text: 'abcd' }).catch((e: unknown) => e)
  t.ok(err instanceof RemoteError)
  t.equal((err as RemoteError).code, 'WEBCHANNEL_VALIDATION')
  t.equal((err as RemoteError).path, '/0/text')
  t.match(log.received[1], { i: 2, e: { code: 'WEBCHANNEL_VALIDATION', path: '/0/text' }, _: 1 })
  const refused = await client.request('refuse').catch((e: unknown) => e) as RemoteError
  t.equal(refused.code, 'APP_NOPE')
  t.equal(refused.message, 'No way')
  t.equal(refused.details.hint, 42)
  const crashed = await client.request('crash').catch((e: unknown) => e) as RemoteError
  t.equal(crashed.code, 'WEBCHANNEL_HANDLER_ERROR')
  t.notMatch(crashed.message, /secret/)
  const none = await client.request('nobody').catch((e: unknown) => e) as RemoteError
  t.equal(none.code, 'WEBCHANNEL_NO_HANDLER')
})

t.test('request timeout: the client gives up, a late answer is ignored', async t => {
  let release!: () => void
  const s = await startClientServer(app => {
    app.webchannel.on('slow', () => new Promise<string>(resolve => { release = () => resolve('late') }))
    app.webchannel.on('echo', (_ctx, x) => x)
  })
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket, requestTimeout: 0 })
  await open(t, client)
  const started = Date.now()
  const err = await client.requestWith({ timeout: 150 }, 'slow').catch((e: unknown) => e) as ClientError
  t.ok(err instanceof ClientError)
  t.equal(err.code, 'WEBCHANNEL_CLIENT_TIMEOUT')
  t.ok(Date.now() - started >= 140)
  release()
  // The late answer crosses the wire and is dropped; the connection is fine.
  t.equal(await client.request('echo', 'after'), 'after')
  t.same(log.received, [{ i: 1, d: 'late' }, { i: 2, d: 'after' }])
})

t.test('AbortSignal: an aborted request rejects at once; a pre-aborted one is never sent', async t => {
  const s = await startClientServer(app => {
    app.webchannel.on('slow', () => new Promise(() => {}))
  }, { handlerTimeout: 0, shutdownTimeout: 100 })
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket })
  await open(t, client)
  const ac = new AbortController()
  const p = client.requestWith({ signal: ac.signal }, 'slow')
  ac.abort(new Error('user left'))
  const err = await p.catch((e: unknown) => e) as ClientError
  t.equal(err.code, 'WEBCHANNEL_CLIENT_ABORTED')
  t.equal((err.cause as Error).message, 'user left')
  const pre = await client.requestWith({ signal: AbortSignal.abort() }, 'slow').catch((e: unknown) => e) as ClientError
  t.equal(pre.code, 'WEBCHANNEL_CLIENT_ABORTED')
  t.same(log.sent, [{ i: 1, a: ['slow'] }])
})

t.test('on / once / off on the main channel and on named channels', async t => {
  const s = await startClientServer(app => {
    app.webchannel.channel('room:*')
  })
  t.teardown(() => s.app.close())
  const { WebSocket } = recordingWebSocket()
  const client = connect(s.base, { WebSocket })
  await open(t, client)
  const session = await s.sessions.next()
  const ons: unknown[] = []
  const onces: unknown[] = []
  const room: unknown[] = []
  const onFn = (x: unknown) => { ons.push(x) }
  client.on('tick', onFn)
  client.once('tick', (x) => { onces.push(x) })
  const lobby = client.of('room:lobby')
  t.equal(client.of('room:lobby'), lobby, 'of() returns the same channel object')
  const third = new Promise<void>(resolve => lobby.on('said', (who, text) => { room.push([who, text]); if (room.length === 2) resolve() }))
  await lobby.subscribe()
  t.same([...client.subscriptions], ['room:lobby'])
  t.equal(s.app.webchannel.to('room:lobby').localCount(), 1)
  const done = new Promise<void>(resolve => client.on('done', () => resolve()))
  s.app.webchannel.toSession(session.id).emit('tick', 1)
  s.app.webchannel.toSession(session.id).emit('tick', 2)
  s.app.webchannel.to('room:lobby').emit('said', 'ann', 'hi')
  s.app.webchannel.to('room:other').emit('said', 'bob', 'not for us')
  s.app.webchannel.to('room:lobby').emit('said', 'cid', 'yo')
  s.app.webchannel.toSession(session.id).emit('done')
  await Promise.all([done, third])
  t.same(ons, [1, 2])
  t.same(onces, [1])
  t.same(room, [['ann', 'hi'], ['cid', 'yo']])
  client.off('tick', onFn)
  await lobby.unsubscribe()
  t.equal(s.app.webchannel.to('room:lobby').localCount(), 0)
  t.same([...client.subscriptions], [])
})

t.test('a refused subscription rejects with WEBCHANNEL_FORBIDDEN and is not kept', async t => {
  const s = await startClientServer(app => {
    app.webchannel.channel('room:*', { authorize: (_s, name) => name !== 'room:secret' })
  })
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket })
  await open(t, client)
  const err = await client.subscribe('room:secret').catch((e: unknown) => e) as RemoteError
  t.ok(err instanceof RemoteError)
  t.equal(err.code, 'WEBCHANNEL_FORBIDDEN')
  t.equal(client.subscriptions.size, 0)
  t.same(log.sent, [{ i: 1, a: ['subscribe', 'room:secret'] }])
  t.same(log.received, [{ i: 1, e: { message: 'Forbidden', code: 'WEBCHANNEL_FORBIDDEN' }, _: 1 }])
})

t.test('requests from the server are answered by the first listener', async t => {
  const s = await startClientServer(() => {})
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket })
  await open(t, client)
  const session = await s.sessions.next()
  client.on('double', (x) => (x as number) * 2)
  client.on('later', async (x) => { await Promise.resolve(); return `got ${String(x)}` })
  client.on('fail', () => { throw Object.assign(new Error('nope'), { code: 'APP_FAIL' }) })
  t.equal(await session.requestClient('double', 21), 42)
  t.equal(await session.requestClient('later', 'x'), 'got x')
  const failed = await session.requestClient('fail').catch((e: unknown) => e) as Error & { code: string }
  t.equal(failed.message, 'nope')
  t.equal(failed.code, 'APP_FAIL')
  const none = await session.requestClient('missing').catch((e: unknown) => e) as Error & { code: string }
  t.equal(none.code, 'WEBCHANNEL_NO_HANDLER')
  t.same(log.sent.slice(0, 2), [{ i: 1, d: 42 }, { i: 2, d: 'got x' }])
})

t.test('reconnect after a server-side close: events, restored subscriptions, fresh session', async t => {
  const s = await startClientServer(app => {
    app.webchannel.channel('room:*', {
      // A slow authorize: messages queued during the reconnect must still wait for the rejoin.
      authorize: () => new Promise(resolve => setTimeout(() => resolve(true), 30)),
    })
    app.webchannel.on('echo', (_ctx, x) => x)
    app.webchannel.of('room:*').on('ping', (ctx) => 'pong from ' + ctx.channel)
  })
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket, reconnect: fastReconnect })
  const events = recordEvents(client)
  await open(t, client)
  const first = await s.sessions.next()
  await client.subscribe('room:a')
  await client.of('room:b').subscribe()

  const reopened = nextEvent(client, 'open')
  // Sent while disconnected, on a channel that needs the subscription.
  const queued = new Promise(resolve => client.once('reconnecting', () => resolve(client.of('room:a').request('ping'))))
  s.app.webchannel.toSession(first.id).close(1012, 'Service restart')
  const info = await reopened
  t.equal(await queued, 'pong from room:a', 'the queued request waited for the rejoin')
  t.same(info, { transport: 'websocket', reconnected: true, resumed: false, restored: ['room:a', 'room:b'] })
  const second = await s.sessions.next()
  t.not(second.id, first.id)
  t.same([...second.channels].sort(), ['room:a', 'room:b'])
  t.equal(log.urls.length, 2)

  const heard = new Promise(resolve => client.of('room:a').once('news', resolve))
  s.app.webchannel.to('room:a').emit('news', 'after reconnect')
  t.equal(await heard, 'after reconnect')

  t.same(events.filter(e => e[0] !== 'state'), [
    ['transport', { transport: 'websocket', previous: null }],
    ['open', { transport: 'websocket', reconnected: false, resumed: false, restored: [] }],
    ['close', { code: 1012, reason: 'Service restart', transport: 'websocket', willReconnect: true }],
    ['reconnecting', { attempt: 1, delay: 20 }],
    ['open', { transport: 'websocket', reconnected: true, resumed: false, restored: ['room:a', 'room:b'] }],
  ])
  t.same(events.filter(e => e[0] === 'state').map(e => e[1]), ['open', 'reconnecting', 'open'])
  // The resubscribe requests crossed the wire on the new socket.
  t.match(log.sent.slice(-3), [{ a: ['subscribe', 'room:a'] }, { a: ['subscribe', 'room:b'] }, { c: 'room:a', a: ['ping'] }])
})

t.test('pending requests fail fast on a drop; idempotent ones are sent again', async t => {
  let reached = 0
  let bothReached!: () => void
  const handlersReached = new Promise<void>(resolve => { bothReached = resolve })
  const arrive = () => { if (++reached === 2) bothReached() }
  const s = await startClientServer(app => {
    let calls = 0
    app.webchannel.on('hang', () => { arrive(); return new Promise(() => {}) })
    app.webchannel.on('count', async (ctx) => {
      calls++
      if (calls === 1) arrive()
      // The first call never answers (its session dies); the retry does.
      if (calls === 1) await new Promise(resolve => ctx.signal.addEventListener('abort', resolve))
      return calls
    })
  }, { handlerTimeout: 0, shutdownTimeout: 100 })
  t.teardown(() => s.app.close())
  const { WebSocket } = recordingWebSocket()
  const client = connect(s.base, { WebSocket, reconnect: fastReconnect, requestTimeout: 0 })
  await open(t, client)
  const session = await s.sessions.next()
  const hang = client.request('hang')
  const count = client.requestWith({ idempotent: true }, 'count')
  const hung = hang.catch((e: unknown) => e)
  // Wait until both requests reached the server's handlers.
  await handlersReached
  const started = Date.now()
  s.app.webchannel.toSession(session.id).close(1012, 'bye')
  const err = await hung as ClientError
  t.ok(err instanceof ClientError)
  t.equal(err.code, 'WEBCHANNEL_CLIENT_DISCONNECTED')
  t.match(err.message, /"hang"/)
  t.ok(Date.now() - started < 1000, 'fails fast, not at a timeout')
  t.equal(await count, 2, 'the idempotent request ran again on the new session')
})

t.test('the server restarts on the same port: the client reconnects and rejoins', async t => {
  const setup = (app: import('fastify').FastifyInstance) => {
    app.webchannel.channel('room:*')
  }
  const s1 = await startClientServer(setup)
  const { WebSocket, log } = recordingWebSocket()
  // 'auto': while the server is down, the client must not settle for WebChannel.
  const client = connect(s1.base, { WebSocket, reconnect: { initialDelay: 50, maxDelay: 50, jitter: 0 } })
  await open(t, client)
  await client.subscribe('room:x')
  const closed = nextEvent(client, 'close')
  await s1.app.close()
  t.match(await closed, { code: 1001, willReconnect: true })
  const reopened = nextEvent(client, 'open')
  const s2 = await startClientServer(setup, {}, undefined, s1.port)
  t.teardown(() => s2.app.close())
  t.same(await reopened, { transport: 'websocket', reconnected: true, resumed: false, restored: ['room:x'] })
  t.equal(s2.app.webchannel.to('room:x').localCount(), 1)
  t.equal(client.transport, 'websocket')
  t.ok(log.urls.length >= 2)
})

t.test('close(): pending requests fail with CLOSED, no reconnect, later calls refused', async t => {
  const s = await startClientServer(app => {
    app.webchannel.on('hang', () => new Promise(() => {}))
  }, { handlerTimeout: 0, shutdownTimeout: 100 })
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket, reconnect: fastReconnect })
  await open(t, client)
  const session = await s.sessions.next()
  const ended = new Promise(resolve => { session.signal.addEventListener('abort', () => resolve(session.endReason)) })
  const p = client.request('hang').catch((e: unknown) => e)
  const closed = nextEvent(client, 'close')
  client.close(1000, 'done')
  t.same(await closed, { code: 1000, reason: 'done', transport: 'websocket', willReconnect: false })
  t.equal(((await p) as ClientError).code, 'WEBCHANNEL_CLIENT_CLOSED')
  t.equal(await ended, 'client-close')
  t.equal(client.state, 'closed')
  t.throws(() => client.emit('x'), { code: 'WEBCHANNEL_CLIENT_CLOSED' })
  t.equal(((await client.request('x').catch((e: unknown) => e)) as ClientError).code, 'WEBCHANNEL_CLIENT_CLOSED')
  t.equal(log.urls.length, 1)
})

t.test('the token travels as ?token=; a 401 on the upgrade is reported as REFUSED and ends the client', async t => {
  let allow = false
  const s = await startClientServer(app => {
    app.webchannel.on('whoami', (ctx) => ctx.principal)
  }, {}, app => {
    app.addHook('onRequest', async (req, reply) => {
      const token = (req.query as Record<string, string>).token
      if (token !== 'sesame' || !allow) return reply.code(401).send({ message: 'no' })
      ;(req as unknown as { user: string }).user = 'ali'
    })
  })
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  let calls = 0
  const refusedClient = connect(s.base, { WebSocket, transport: 'websocket', reconnect: fastReconnect, token: () => { calls++; return 'sesame' } })
  const events = recordEvents(refusedClient)
  const failed = await nextEvent(refusedClient, 'error')
  t.equal(failed.code, 'WEBCHANNEL_CLIENT_REFUSED')
  t.equal(failed.status, 401)
  t.equal(failed.transport, 'websocket')
  t.equal(refusedClient.state, 'closed', 'no retry can cure a refusal')
  t.same(events.filter(e => e[0] === 'reconnecting'), [])
  t.equal(log.urls.length, 1)

  allow = true
  const client = connect(s.base, { WebSocket, transport: 'websocket', reconnect: fastReconnect, token: () => { calls++; return 'sesame' } })
  t.teardown(() => client.close())
  await nextEvent(client, 'open')
  t.equal(await client.request('whoami'), 'ali')
  t.equal(calls, 2, 'the token function runs before every attempt')
  t.equal(new URL(log.urls[1]).searchParams.get('token'), 'sesame')
})

t.test('reconnect: false ends the client on a drop', async t => {
  const s = await startClientServer(() => {})
  t.teardown(() => s.app.close())
  const { WebSocket } = recordingWebSocket()
  const client = connect(s.base, { WebSocket, reconnect: false })
  await open(t, client)
  const session = await s.sessions.next()
  const closed = nextEvent(client, 'close')
  session.close(4001, 'kicked')
  t.same(await closed, { code: 4001, reason: 'kicked', transport: 'websocket', willReconnect: false })
  t.equal(client.state, 'closed')
})

t.test('while disconnected: requests wait within their timeout, and the queue is bounded', async t => {
  const s = await startClientServer(() => {}, { websocket: { enabled: false } })
  t.teardown(() => s.app.close())
  const { WebSocket, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket, transport: 'websocket', maxQueued: 2, reconnect: { initialDelay: 10_000 } })
  t.teardown(() => client.close())
  const waiting = client.requestWith({ timeout: 100 }, 'never').catch((e: unknown) => e)
  client.emit('queued', 1)
  t.throws(() => client.emit('queued', 2), { code: 'WEBCHANNEL_CLIENT_QUEUE_FULL' })
  t.equal(((await client.request('over').catch((e: unknown) => e)) as ClientError).code, 'WEBCHANNEL_CLIENT_QUEUE_FULL')
  t.equal(((await waiting) as ClientError).code, 'WEBCHANNEL_CLIENT_TIMEOUT')
  // The timed-out request left the queue: there is room again.
  client.emit('queued', 3)
  t.same(log.sent, [], 'nothing was written to a socket that never opened')
})
