import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { redisAdapter, type AdapterEvent } from '../lib/index.js'
import { startApp } from './helpers/app.js'
import { freePort, RedisServer, until } from './helpers/redis-server.js'
import { connectWs } from './helpers/ws-client.js'

// The outage buffer's other bounds (bytes, age), what close() gives up, and
// count() while disconnected; one instance on a redis-server of the test's own.

async function instanceWithOutage (t: Test, buffer: { count?: number, bytes?: number, age?: number }) {
  const redis = new RedisServer(await freePort())
  await redis.start()
  const events: AdapterEvent[] = []
  const s = await startApp({
    adapter: redisAdapter({ port: redis.port, key: 'fwc-buffer-' + randomBytes(4).toString('hex'), buffer }),
    onAdapterEvent: e => { events.push(e) },
  })
  let closed = false
  const close = async () => { if (!closed) { closed = true; await s.app.close() } }
  t.teardown(async () => { await close(); await redis.stop() })
  await redis.stop()
  await until('degraded', () => s.app.webchannel.health().status === 'degraded')
  return { app: s.app, events, close }
}

t.test('bytes: the oldest go first beyond the bound; a message larger than the bound is dropped itself', async t => {
  const { app, events } = await instanceWithOutage(t, { bytes: 200 })
  for (let i = 0; i < 5; i++) app.webchannel.all().emit('x', 'y'.repeat(50))
  const h = app.webchannel.health().adapter
  t.ok(h.bufferedBytes <= 200, `held ${h.bufferedBytes} bytes`)
  t.ok(h.buffered >= 1 && h.buffered < 5)
  t.same(h.droppedBy, { bytes: 5 - h.buffered })
  app.webchannel.all().emit('x', 'y'.repeat(300))
  t.same(app.webchannel.health().adapter.droppedBy, { bytes: 6 - h.buffered }, 'the large one too')
  await until('reported', () => events.some(e => e.type === 'drop' && e.total === 6 - h.buffered))
})

t.test('age: held messages older than the bound are dropped even if nothing else is published', async t => {
  const { app, events } = await instanceWithOutage(t, { age: 200 })
  for (let i = 0; i < 3; i++) app.webchannel.all().emit('x', i)
  t.equal(app.webchannel.health().adapter.buffered, 3)
  await until('aged out', () => app.webchannel.health().adapter.buffered === 0, 5000)
  t.same(app.webchannel.health().adapter.droppedBy, { age: 3 })
  await until('reported', () => events.some(e => e.type === 'drop' && e.reason === 'age' && e.total === 3))
})

t.test('close() while messages are held: counted as closed; count() meanwhile rejects at once', async t => {
  const { app, events, close } = await instanceWithOutage(t, {})
  const err = await app.webchannel.all().count().then(() => null, (e: { code: string }) => e)
  t.equal(err?.code, 'FST_WEBCHANNEL_ADAPTER_UNAVAILABLE')
  app.webchannel.all().emit('x', 1)
  app.webchannel.all().emit('x', 2)
  await close()
  t.match(events.filter(e => e.type === 'drop'), [{ type: 'drop', reason: 'closed', count: 2, total: 2 }])
})

t.test('in one process: a flush after an outage, and health on the admin route and in metrics', async t => {
  const redis = new RedisServer(await freePort())
  await redis.start()
  const key = 'fwc-inproc-' + randomBytes(4).toString('hex')
  const { Registry } = await import('prom-client')
  const make = () => startApp({ adapter: redisAdapter({ port: redis.port, key }), admin: { path: '/admin' }, metrics: { registry: new Registry() } }, app => { app.webchannel.channel('room') })
  const one = await make()
  const two = await make()
  t.teardown(async () => { await one.app.close(); await two.app.close(); await redis.stop() })
  const b = await connectWs(two.wsUrl)
  t.teardown(() => b.ws.close())
  await b.wrapper.request('subscribe', 'room')
  const heard: number[] = []
  b.wrapper.of('room').on('n', (n: number) => { heard.push(n) })
  // Two is counted by one before the outage (its hello, or one's own count when it connected).
  await until('one knows two', async () => await one.app.webchannel.to('room').count() === 1)

  await redis.stop()
  await until('both degraded', () => one.app.webchannel.health().status === 'degraded' && two.app.webchannel.health().status === 'degraded')
  t.match(await one.app.webchannel.metrics(), /webchannel_adapter_connected 0/)
  t.match((await one.app.inject('/admin/health')).json(), { status: 'degraded', adapter: { connected: false } })
  for (let i = 0; i < 3; i++) one.app.webchannel.to('room').emit('n', i)
  t.equal(one.app.webchannel.health().adapter.buffered, 3)
  await redis.start()
  await until('b heard the three', () => heard.length === 3, 15_000)
  t.same(heard, [0, 1, 2])
  await until('both ok', () => one.app.webchannel.health().status === 'ok' && two.app.webchannel.health().status === 'ok')
  t.match(await one.app.webchannel.metrics(), /webchannel_adapter_connected 1/)
  t.match((await one.app.inject('/admin')).json(), { health: { status: 'ok', adapter: { connected: true, buffered: 0 } } })
})
