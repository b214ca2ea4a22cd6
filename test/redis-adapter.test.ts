import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import type { Started } from './helpers/app.js'
import { OpenLog } from './helpers/events.js'
import { redisApp } from './helpers/redis-app.js'
import { connectWs, nextFrame } from './helpers/ws-client.js'

function instance (t: Test, key: string, opened?: OpenLog): Promise<Started> {
  return redisApp(t, key, { onConnection: opened?.hook }, app => {
    app.webchannel.channel('room:*')
    app.webchannel.on('say', (_ctx, room: string, text: string) => app.webchannel.to(room).emit('said', text))
  })
}

t.test('two instances share channels, sessions and broadcasts through Redis', async t => {
  const key = 'fwc-test-' + randomBytes(6).toString('hex')
  const opened2 = new OpenLog()
  const one = await instance(t, key)
  const two = await instance(t, key, opened2)
  const a = await connectWs(one.wsUrl)
  const b = await connectWs(two.wsUrl)
  await a.wrapper.request('subscribe', 'room:x')
  await b.wrapper.request('subscribe', 'room:x')

  // A client on instance one speaks; the subscriber on instance two hears it.
  const heard = new Promise(resolve => b.wrapper.of('room:x').once('said', resolve))
  const echoed = new Promise(resolve => a.wrapper.of('room:x').once('said', resolve))
  t.equal(await a.wrapper.request('say', 'room:x', 'hello across'), 1, 'one local delivery on instance one')
  t.equal(await heard, 'hello across')
  t.equal(await echoed, 'hello across', 'and the local subscriber exactly once')

  // Ordering holds across the bus.
  const got: number[] = []
  const done = new Promise<void>(resolve => b.wrapper.of('room:x').on('n', (n: number) => { got.push(n); if (got.length === 200) resolve() }))
  for (let i = 0; i < 200; i++) one.app.webchannel.to('room:x').emit('n', i)
  await done
  t.same(got, Array.from({ length: 200 }, (_, i) => i))

  // A session on instance two, addressed by id from instance one.
  const bSession = await opened2.nth(1)
  const direct = nextFrame(b.ws)
  t.equal(one.app.webchannel.toSession(bSession.id).emit('direct', 'to b'), 0, 'not local to instance one')
  t.same(await direct, { a: ['direct', 'to b'] })

  const all = Promise.all([nextFrame(a.ws), nextFrame(b.ws)])
  one.app.webchannel.all().emit('everyone', 1)
  t.same(await all, [{ a: ['everyone', 1] }, { a: ['everyone', 1] }])
  a.ws.close()
  b.ws.close()
})

t.test('instances with different keys do not hear each other', async t => {
  const keyOne = 'fwc-test-' + randomBytes(6).toString('hex')
  const keyTwo = 'fwc-test-' + randomBytes(6).toString('hex')
  const one = await instance(t, keyOne)
  const two = await instance(t, keyTwo)
  // A third instance on two's key: its emits reach two only through Redis.
  const three = await instance(t, keyTwo)
  const observer = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true })
  await observer.connect()
  t.teardown(() => observer.disconnect())
  await observer.psubscribe('*')
  const b = await connectWs(two.wsUrl)
  await b.wrapper.request('subscribe', 'room:y')
  const heard: string[] = []
  b.wrapper.of('room:y').on('said', (text: string) => { heard.push(text) })
  // Wait until one's message is on the bus, then send a probe through Redis on two's key:
  // Redis delivers in publish order, so a leak would reach b before the probe.
  const lost = 'lost-' + randomBytes(6).toString('hex')
  const published = new Promise<string>(resolve => observer.on('pmessage', (_p: string, channel: string, message: string) => { if (message.includes(lost)) resolve(channel) }))
  one.app.webchannel.to('room:y').emit('said', lost)
  t.equal(await published, keyOne, 'one published on its own key')
  const probe = new Promise(resolve => b.wrapper.of('room:y').on('said', (text: string) => { if (text === 'probe') resolve(text) }))
  three.app.webchannel.to('room:y').emit('said', 'probe')
  t.equal(await probe, 'probe', 'the bus is live for two (a message through Redis on its key arrived)')
  t.same(heard, ['probe'], 'and nothing from the other key arrived before it')
  b.ws.close()
})
