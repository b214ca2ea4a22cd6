import t from 'tap'
import { Type } from 'typebox'
import webchannel, { WireError } from '../lib/index.js'
import Fastify from 'fastify'
import { startApp } from './helpers/app.js'
import { connectWs, nextFrame } from './helpers/ws-client.js'

const ChatSend = Type.Object({ room: Type.String(), text: Type.String({ minLength: 1, maxLength: 5 }) })

t.test('requests, events and server emits over the real ws-wrapper client', async t => {
  const seen: unknown[] = []
  const s = await startApp({}, app => {
    app.webchannel.on('echo', (_ctx, x) => x)
    app.webchannel.on('note', (ctx, a, b) => { seen.push([a, b]); ctx.session.emit('noted', a, b) })
    app.webchannel.of('math').on('add', (_ctx, a: number, b: number) => a + b)
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  t.same(await c.wrapper.request('echo', { deep: [1, 'two', null] }), { deep: [1, 'two', null] })
  const noted = new Promise(resolve => c.wrapper.on('noted', (a: unknown, b: unknown) => resolve([a, b])))
  c.wrapper.emit('note', 'x', 2)
  t.same(await noted, ['x', 2])
  t.same(seen, [['x', 2]])
  t.equal(await c.wrapper.of('math').request('add', 2, 3), 5, 'named channel handler')
  c.ws.close()
})

t.test('TypeBox schemas validate payloads before the handler runs', async t => {
  let calls = 0
  const s = await startApp({}, app => {
    app.webchannel.on('chat.send', { args: [ChatSend], response: Type.Object({ ok: Type.Boolean() }) }, (_ctx, msg) => {
      calls++
      return { ok: msg.text.length > 0 }
    })
    app.webchannel.on('bad.response', { response: Type.Number() }, () => 'not a number' as unknown as number)
    app.webchannel.on('calls', () => calls)
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  t.same(await c.wrapper.request('chat.send', { room: 'a', text: 'hi' }), { ok: true })
  const err = await c.wrapper.request('chat.send', { room: 'a', text: 'far too long' }).catch((e: Error) => e)
  t.ok(err instanceof Error)
  t.equal(err.code, 'WEBCHANNEL_VALIDATION')
  t.equal(err.path, '/0/text')
  t.notMatch(err.message, /far too long/, 'the raw value is not echoed')
  const missing = await c.wrapper.request('chat.send').catch((e: Error) => e)
  t.equal(missing.code, 'WEBCHANNEL_VALIDATION')
  // An invalid plain event is dropped: the handler never runs.
  c.wrapper.emit('chat.send', { room: 1 })
  t.equal(await c.wrapper.request('calls'), 1, 'only the valid request reached the handler')
  const bad = await c.wrapper.request('bad.response').catch((e: Error) => e)
  t.equal(bad.code, 'WEBCHANNEL_HANDLER_ERROR', 'a response failing its schema is not sent')
  c.ws.close()
})

t.test('handler failures answer with a generic error and the connection survives', async t => {
  const s = await startApp({}, app => {
    app.webchannel.on('boom', () => { throw new Error('secret internals at /srv/app.js:12') })
    app.webchannel.on('reject', async () => { throw new Error('nope') })
    app.webchannel.on('refuse', () => { throw new WireError('APP_QUOTA', 'Quota exceeded', { retryAfter: 3 }) })
    app.webchannel.on('ok', () => 'still here')
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const boom = await c.wrapper.request('boom').catch((e: Error) => e)
  t.equal(boom.message, 'Internal error')
  t.equal(boom.code, 'WEBCHANNEL_HANDLER_ERROR')
  t.equal(boom.stack.includes('/srv/app.js'), false, 'no server stack crosses the wire')
  const rej = await c.wrapper.request('reject').catch((e: Error) => e)
  t.equal(rej.code, 'WEBCHANNEL_HANDLER_ERROR')
  const refuse = await c.wrapper.request('refuse').catch((e: Error) => e)
  t.match(refuse, { message: 'Quota exceeded', code: 'APP_QUOTA', retryAfter: 3 })
  const none = await c.wrapper.request('nobody.home').catch((e: Error) => e)
  t.equal(none.code, 'WEBCHANNEL_NO_HANDLER')
  t.equal(await c.wrapper.request('ok'), 'still here')
  c.ws.close()
})

t.test('reserved names, bad request ids and foreign frames are never dispatched', async t => {
  let calls = 0
  const s = await startApp({}, app => {
    app.webchannel.on('count', () => ++calls)
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  c.ws.send(JSON.stringify({ a: ['close'], i: 7 }))
  t.match(await nextFrame(c.ws), { i: 7, e: { code: 'WEBCHANNEL_NO_HANDLER' }, _: 1 })
  for (const i of [-1, 0, 1.5, '3', 2 ** 53]) c.ws.send(JSON.stringify({ a: ['count'], i }))
  c.ws.send(JSON.stringify({ a: ['count'], i: 8, 'ws-wrapper': false }))
  c.ws.send('not json at all')
  c.ws.send(JSON.stringify({ a: [42], i: 9 }))
  c.ws.send(JSON.stringify({ i: 10, a: ['count'] }))
  t.same(await nextFrame(c.ws), { i: 10, d: 1 }, 'only the well-formed request ran')
  c.ws.close()
})

t.test('in-flight requests are capped per session', async t => {
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  const s = await startApp({ maxInflightRequests: 2 }, app => {
    app.webchannel.on('slow', async () => { await gate; return 'done' })
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const a = c.wrapper.request('slow')
  const b = c.wrapper.request('slow')
  const third = await c.wrapper.request('slow').catch((e: Error) => e)
  t.equal(third.code, 'WEBCHANNEL_TOO_MANY_REQUESTS')
  release()
  t.same(await Promise.all([a, b]), ['done', 'done'])
  t.equal(await c.wrapper.request('slow'), 'done', 'capacity is given back')
  c.ws.close()
})

t.test('a per-event handler timeout aborts the signal and answers WEBCHANNEL_TIMEOUT', async t => {
  let aborted: Promise<unknown> | null = null
  const s = await startApp({ handlerTimeout: 60_000 }, app => {
    app.webchannel.on('hang', { timeout: 150 }, (ctx) => {
      aborted = new Promise(resolve => ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason)))
      return new Promise(() => {})
    })
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const err = await c.wrapper.request('hang').catch((e: Error) => e)
  t.equal(err.code, 'WEBCHANNEL_TIMEOUT')
  t.match(await aborted, { code: 'WEBCHANNEL_TIMEOUT' }, 'the handler saw its signal abort')
  c.ws.close()
})

t.test('handler priority: session once, session on, server once, server on', async t => {
  const s = await startApp({
    onConnection: (session) => {
      session.once('who', () => 'session-once')
      session.on('who', () => 'session-on')
    },
  }, app => {
    app.webchannel.once('other', () => 'server-once')
    app.webchannel.of('x').on('other', () => 'server-channel-on')
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  t.equal(await c.wrapper.request('who'), 'session-once')
  t.equal(await c.wrapper.request('who'), 'session-on')
  t.equal(await c.wrapper.request('who'), 'session-on')
  t.equal(await c.wrapper.request('other'), 'server-once')
  t.equal((await c.wrapper.request('other').catch((e: Error) => e)).code, 'WEBCHANNEL_NO_HANDLER', 'once means once')
  t.equal(await c.wrapper.of('x').request('other'), 'server-channel-on')
  c.ws.close()
})

t.test('the server can send requests to the client', async t => {
  let sessionReady!: (id: string) => void
  const ready = new Promise<string>(resolve => { sessionReady = resolve })
  const s = await startApp({ onConnection: (session) => sessionReady(session.id) })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  c.wrapper.on('ask', (n: number) => n + 1)
  const id = await ready
  t.equal(await s.app.webchannel.toSession(id).request('ask', 41), 42)
  c.ws.close()
})

t.test('programmer errors fail registration with coded errors', async t => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(webchannel)
  app.webchannel.on('a', () => 1)
  t.throws(() => app.webchannel.on('a', () => 2), { code: 'FST_WEBCHANNEL_DUPLICATE_HANDLER' })
  t.throws(() => app.webchannel.on('close', () => 2), { code: 'FST_WEBCHANNEL_RESERVED_EVENT' })
  t.throws(() => app.webchannel.on('subscribe', () => 2), { code: 'FST_WEBCHANNEL_RESERVED_EVENT' })
  t.throws(() => app.webchannel.on('x', { args: 'nope' as never }, () => 2), { code: 'FST_WEBCHANNEL_INVALID_SCHEMA' })
  t.throws(() => app.webchannel.channel('room:*', { authorize: 5 as never }), { code: 'FST_WEBCHANNEL_INVALID_OPTION' })
  app.webchannel.channel('room:*')
  t.throws(() => app.webchannel.channel('room:*'), { code: 'FST_WEBCHANNEL_DUPLICATE_CHANNEL' })

  for (const [opts, name] of [
    [{ prefix: 'channel' }, 'prefix'],
    [{ websocket: { maxMessageSize: -1 } }, 'websocket.maxMessageSize'],
    [{ closeCode: 1005 }, 'closeCode'],
    [{ origin: 5 }, 'origin'],
    [{ websocket: { requireSubprotocol: true } }, 'websocket.requireSubprotocol'],
  ] as const) {
    const bad = Fastify()
    await t.rejects(async () => { await bad.register(webchannel, opts as never); await bad.ready() }, { code: 'FST_WEBCHANNEL_INVALID_OPTION', message: new RegExp(name.replace('.', '\\.')) })
    await bad.close().catch(() => {})
  }
})
