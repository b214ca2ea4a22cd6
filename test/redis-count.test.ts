import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'
import t from 'tap'
import { RedisAdapter } from '../lib/index.js'
import { startApp } from './helpers/app.js'
import { connectWs } from './helpers/ws-client.js'

// Cluster-wide counts when an instance does not answer (real Redis on 6379).

t.test('count() rejects with FST_WEBCHANNEL_ADAPTER_TIMEOUT when a subscriber of the topic never answers', async t => {
  const key = 'fwc-count-timeout-' + randomBytes(6).toString('hex')
  const pub = new Redis({ host: '127.0.0.1', port: 6379 })
  const sub = new Redis({ host: '127.0.0.1', port: 6379 })
  // A silent "instance": subscribed to the topic (so NUMSUB counts it), never answering.
  const silent = new Redis({ host: '127.0.0.1', port: 6379 })
  await silent.subscribe(key)
  const s = await startApp({ adapter: new RedisAdapter({ pub, sub, key, countTimeout: 300 }) })
  t.teardown(async () => {
    await s.app.close()
    for (const c of [pub, sub, silent]) c.disconnect()
  })
  const c = await connectWs(s.wsUrl)
  const err = await s.app.webchannel.all().count().then(() => null, (e: { code: string }) => e)
  t.equal(err?.code, 'FST_WEBCHANNEL_ADAPTER_TIMEOUT')
  t.equal(s.app.webchannel.all().localCount(), 1, 'the local count is still at hand')
  c.ws.close()
})

t.test('a client without call() (no NUMSUB): count() waits countTimeout and sums what arrived', async t => {
  const key = 'fwc-count-nocall-' + randomBytes(6).toString('hex')
  const pub = new Redis({ host: '127.0.0.1', port: 6379 })
  const sub = new Redis({ host: '127.0.0.1', port: 6379 })
  const pubWithoutCall = {
    publish: (channel: string, message: string) => pub.publish(channel, message),
    subscribe: (channel: string) => sub.subscribe(channel),
    unsubscribe: (channel: string) => sub.unsubscribe(channel),
    on: (event: 'message', fn: (channel: string, message: string) => void) => sub.on(event, fn),
    removeListener: (event: 'message', fn: (channel: string, message: string) => void) => sub.removeListener(event, fn),
  }
  const s = await startApp({ adapter: new RedisAdapter({ pub: pubWithoutCall, sub, key, countTimeout: 200 }) })
  t.teardown(async () => {
    await s.app.close()
    pub.disconnect()
    sub.disconnect()
  })
  const c = await connectWs(s.wsUrl)
  t.equal(await s.app.webchannel.all().count(), 1, 'this instance alone')
  c.ws.close()
})
