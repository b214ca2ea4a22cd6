import { randomBytes } from 'node:crypto'
import t from 'tap'
import { startInstance, type InstanceProcess } from './helpers/instance-process.js'
import { freePort, RedisServer, until } from './helpers/redis-server.js'
import { connectWs, type WsClient } from './helpers/ws-client.js'

// Redis faults (issue 13, item 4). Two app instances run as child processes
// on a redis-server of the test's own, which the test stops and starts again
// on the same port. Everything asserted is seen by real clients, on the
// instances' admin and metrics routes, and in their log output.

/** A client on `room`, keeping every `said` it hears in order. */
async function listener (url: string, room: string): Promise<WsClient & { heard: string[] }> {
  const c = await connectWs(url)
  const heard: string[] = []
  c.wrapper.of(room).on('said', (text: string) => { heard.push(text) })
  await c.wrapper.request('subscribe', room)
  return Object.assign(c, { heard })
}

const health = (i: InstanceProcess) => i.get('/admin/health')

t.test('an outage: local delivery goes on, buffered messages arrive once and in order, drops beyond the bound are reported', async t => {
  const redis = new RedisServer(await freePort())
  await redis.start()
  const key = 'fwc-faults-' + randomBytes(4).toString('hex')
  // One has a buffer of 5 messages; two keeps the default (1000).
  const one = await startInstance({ REDIS_PORT: String(redis.port), KEY: key, BUFFER_COUNT: '5' })
  const two = await startInstance({ REDIS_PORT: String(redis.port), KEY: key })
  t.teardown(async () => { await one.stop(); await two.stop(); await redis.stop() })
  t.comment(`boot with Redis up: ${one.bootMs} ms and ${two.bootMs} ms from spawn to listening, of which ${one.startMs} ms and ${two.startMs} ms from making the adapter`)
  const a = await listener(one.wsUrl, 'room:x')
  const b = await listener(two.wsUrl, 'room:x')
  t.teardown(() => { a.ws.close(); b.ws.close() })
  t.same(await health(one), { status: 'ok', adapter: { connected: true, buffered: 0, bufferedBytes: 0, dropped: 0, droppedBy: {} } })

  await a.wrapper.request('say', 'room:x', 'before')
  await until('b hears "before"', () => b.heard.includes('before'))

  await redis.stop()
  await until('both degraded', async () => (await health(one)).status === 'degraded' && (await health(two)).status === 'degraded')
  t.match(await one.get('/metrics'), /webchannel_adapter_connected 0/)

  // During the outage every emit reaches the local subscribers at once.
  for (let i = 0; i < 8; i++) t.equal(await a.wrapper.request('say', 'room:x', 'A' + i), 1, 'A' + i + ' delivered locally')
  for (let i = 0; i < 20; i++) await b.wrapper.request('say', 'room:x', 'B' + i)
  await until('local deliveries', () => a.heard.length === 1 + 8 && b.heard.length === 1 + 20)
  t.same(a.heard, ['before', 'A0', 'A1', 'A2', 'A3', 'A4', 'A5', 'A6', 'A7'], 'a heard its own instance only')
  t.same(b.heard, ['before', ...Array.from({ length: 20 }, (_, i) => 'B' + i)], 'b heard its own instance only')

  // One holds its last 5 and gave up the 3 oldest; two holds all 20.
  const h1 = await health(one)
  t.same(h1.adapter, { connected: false, buffered: 5, bufferedBytes: h1.adapter.bufferedBytes, dropped: 3, droppedBy: { count: 3 } })
  t.ok(h1.adapter.bufferedBytes > 0)
  t.match((await health(two)).adapter, { connected: false, buffered: 20, dropped: 0 })
  // Reported at once, then at most once a second, summed.
  await until('the drops are logged', () => one.logs('adapter dropped').some(l => l.total === 3))
  const logged = one.logs('adapter dropped')
  t.ok(logged.every(l => l.level === 40 && l.reason === 'count'), 'warn lines, reason count')
  t.equal(logged.reduce((n, l) => n + (l.count as number), 0), 3, 'three dropped in all')
  t.match(await one.get('/metrics'), /webchannel_adapter_dropped_total\{reason="count"\} 3/)
  t.match(await one.get('/metrics'), /webchannel_adapter_buffered\{unit="messages"\} 5/)

  const restarted = Date.now()
  await redis.start()
  await until('both ok again', async () => (await health(one)).status === 'ok' && (await health(two)).status === 'ok', 15_000)
  t.comment(`ok again ${Date.now() - restarted} ms after Redis was started`)
  // A probe after recovery, from each side: whatever else was coming came before it.
  await a.wrapper.request('say', 'room:x', 'probe-a')
  await b.wrapper.request('say', 'room:x', 'probe-b')
  await until('probes arrive', () => b.heard.includes('probe-a') && a.heard.includes('probe-b'))
  t.same(b.heard.filter(x => x.startsWith('A') || x === 'probe-a'), ['A3', 'A4', 'A5', 'A6', 'A7', 'probe-a'], "b got one's 5 buffered messages, in order, once")
  t.same(a.heard.filter(x => x.startsWith('B') || x === 'probe-b'), [...Array.from({ length: 20 }, (_, i) => 'B' + i), 'probe-b'], "a got two's 20 buffered messages, in order, once")

  t.same((await health(one)).adapter, { connected: true, buffered: 0, bufferedBytes: 0, dropped: 3, droppedBy: { count: 3 } })
  const events = await one.get('/adapter-events') as Array<{ type: string, count?: number, total?: number }>
  const drops = events.filter(e => e.type === 'drop')
  t.same(events.filter(e => e.type !== 'drop'), [{ type: 'up', flushed: 0 }, { type: 'down', error: null }, { type: 'up', flushed: 5 }])
  t.equal(drops.reduce((n, e) => n + (e.count ?? 0), 0), 3, 'the drop events sum to 3')
  t.equal(drops.at(-1)?.total, 3)
  t.match(await two.get('/adapter-events'), [{ type: 'up', flushed: 0 }, { type: 'down' }, { type: 'up', flushed: 20 }])
  t.match(two.logs('adapter disconnected'), [{ level: 40 }], 'the outage is logged once')
  t.match(two.logs('adapter connected'), [{ flushed: 0 }, { flushed: 20 }])
  for (const i of [one, two]) t.notMatch(i.stderr() + i.stdout(), /Unhandled error event/)
})

t.test('booting while Redis is down: local traffic is served, degraded until Redis comes up, then cross-instance', async t => {
  const redis = new RedisServer(await freePort())
  const key = 'fwc-boot-' + randomBytes(4).toString('hex')
  const env = { REDIS_PORT: String(redis.port), KEY: key }
  // Two is made with the constructor and plain ioredis clients: the adapter's own listeners keep them quiet too.
  const [one, two] = await Promise.all([startInstance(env), startInstance({ ...env, ADAPTER: 'constructor' })])
  t.teardown(async () => { await one.stop(); await two.stop(); await redis.stop() })
  t.comment(`boot with Redis down: ${one.bootMs} ms and ${two.bootMs} ms from spawn to listening, of which ${one.startMs} ms and ${two.startMs} ms from making the adapter`)
  // The adapter returns at the first refused connection; ioredis's own 20 retries (about 12 s) are not waited for.
  // Loose, for a loaded machine: before, registration failed after ioredis's retries and the process exited.
  t.ok(one.startMs < 8000 && two.startMs < 8000, 'the plugin does not wait for Redis')
  t.match(await health(one), { status: 'degraded', adapter: { connected: false } })
  const a1 = await listener(one.wsUrl, 'room:y')
  const a2 = await listener(one.wsUrl, 'room:y')
  const b = await listener(two.wsUrl, 'room:y')
  t.teardown(() => { a1.ws.close(); a2.ws.close(); b.ws.close() })
  t.equal(await a1.wrapper.request('say', 'room:y', 'early'), 2, 'both local subscribers')
  await until('a2 hears it', () => a2.heard.includes('early'))
  t.match(await one.get('/adapter-events'), [{ type: 'down' }])

  const restarted = Date.now()
  await redis.start()
  await until('both ok', async () => (await health(one)).status === 'ok' && (await health(two)).status === 'ok', 15_000)
  t.comment(`ok ${Date.now() - restarted} ms after Redis was started`)
  await a1.wrapper.request('say', 'room:y', 'later')
  await until('b hears "later"', () => b.heard.includes('later'))
  t.same(b.heard, ['early', 'later'], 'the message said while Redis was down arrived once, before the later one')
  t.match(await one.get('/adapter-events'), [{ type: 'down' }, { type: 'up', flushed: 1 }])
  t.match(await two.get('/adapter-events'), [{ type: 'down' }, { type: 'up', flushed: 0 }])
  for (const i of [one, two]) t.notMatch(i.stderr() + i.stdout(), /Unhandled error event/)
})
