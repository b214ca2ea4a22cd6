import rateLimit from '@fastify/rate-limit'
import t from 'tap'
import { startApp } from './helpers/app.js'
import { handshake, request } from './helpers/wc-raw.js'
import { connectWs, refusedUpgrade } from './helpers/ws-client.js'

// The built-in limits (hostile case 5 and the rate limits), seen on the wire.

const enc = (v: unknown) => encodeURIComponent(JSON.stringify(v))
const fwd = (sid: string, rid: number) => `/channel?VER=8&SID=${sid}&RID=${rid}&AID=0&zx=x&t=1`

t.test('WebSocket messages over the session rate: requests refused, the session lives', async t => {
  const s = await startApp({ rateLimit: { messages: { rate: 1, burst: 5 } } }, app => {
    app.webchannel.on('echo', (_c, v: unknown) => v)
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    c.wrapper.request('echo', i).then((v: unknown) => v, (e: { code: string }) => e.code)))
  t.same(answers.slice(0, 5), [0, 1, 2, 3, 4], 'the burst is answered')
  t.same(answers.slice(5), Array(5).fill('WEBCHANNEL_RATE_LIMITED'))
  t.equal(s.app.webchannel.rateLimited.messages, 5)
  t.equal(c.ws.readyState, c.ws.OPEN)
  c.ws.close()
})

t.test("onMessageLimit 'close': the session is closed with 1008", async t => {
  const s = await startApp({ rateLimit: { messages: { rate: 1, burst: 2 }, onMessageLimit: 'close' } }, app => {
    app.webchannel.on('tick', () => {})
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  for (let i = 0; i < 5; i++) c.wrapper.emit('tick', i)
  t.same(await c.closed, [1008, 'Rate limit exceeded'])
})

t.test('a WebChannel POST over the session rate: 429 with Retry-After, nothing of it delivered', async t => {
  const got: unknown[] = []
  const s = await startApp({ rateLimit: { messages: { rate: 0.01, burst: 5 } } }, app => {
    app.webchannel.on('n', (_c, v: unknown) => { got.push(v) })
  })
  t.teardown(() => s.app.close())
  const origin = new URL(s.url).origin
  const { sid } = await handshake(origin)
  const maps = (from: number, n: number) => `count=${n}&ofs=${from}` + Array.from({ length: n }, (_, i) => `&req${i}___data__=${enc({ a: ['n', from + i] })}`).join('')
  t.equal((await request(origin, fwd(sid, 101), { body: maps(0, 4) })).status, 200)
  t.same(got, [0, 1, 2, 3])
  const over = await request(origin, fwd(sid, 102), { body: maps(4, 3) })
  t.equal(over.status, 429, 'three more with one token left')
  t.equal(JSON.parse(over.body).code, 'FST_WEBCHANNEL_RATE_LIMITED')
  t.ok(Number(over.headers['retry-after']) >= 1)
  t.same(got, [0, 1, 2, 3], 'nothing of the refused POST reached the app')
  // A POST larger than the burst is granted a full bucket, or it could never pass.
  const other = await handshake(origin)
  t.equal((await request(origin, fwd(other.sid, 101), { body: maps(0, 8) })).status, 200)
  t.equal(got.length, 12)
})

t.test('new sessions per IP: the burst, then 429 on both transports', async t => {
  const s = await startApp({ rateLimit: { sessionsPerIp: { rate: 0.001, burst: 3 } } })
  t.teardown(() => s.app.close())
  const origin = new URL(s.url).origin
  for (let i = 0; i < 3; i++) await handshake(origin)
  const refused = await request(origin, '/channel?VER=8&RID=1&CVER=22', { body: 'count=0' })
  t.equal(refused.status, 429)
  t.equal(JSON.parse(refused.body).code, 'FST_WEBCHANNEL_RATE_LIMITED')
  t.ok(Number(refused.headers['retry-after']) >= 1)
  const upgrade = await refusedUpgrade(s.wsUrl)
  t.equal(upgrade.statusCode, 429)
  t.equal(s.app.webchannel.rateLimited.sessions, 2)
})

t.test('unknown SIDs per IP: 400 Unknown SID for the burst, then 429 (case 5)', async t => {
  const s = await startApp({ rateLimit: { unknownSidPerIp: { rate: 0.001, burst: 3 } } })
  t.teardown(() => s.app.close())
  const origin = new URL(s.url).origin
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) statuses.push((await request(origin, fwd('nosuchsid' + i, 101), { body: 'count=0' })).status)
  t.same(statuses, [400, 400, 400, 429, 429, 429])
  t.equal(s.app.webchannel.rateLimited.unknownSid, 3)
  // A real session from the same IP is untouched.
  const { sid } = await handshake(origin)
  t.equal((await request(origin, fwd(sid, 101), { body: 'count=0' })).status, 200)
})

t.test('@fastify/rate-limit: the routes take its per-route config through routeConfig', async t => {
  const s = await startApp({ routeConfig: { rateLimit: { max: 2, timeWindow: 60_000 } } }, undefined, async app => {
    await app.register(rateLimit, { global: false })
  })
  t.teardown(() => s.app.close())
  const origin = new URL(s.url).origin
  await handshake(origin)
  await handshake(origin)
  const third = await request(origin, '/channel?VER=8&RID=1&CVER=22', { body: 'count=0' })
  t.equal(third.status, 429, "@fastify/rate-limit's own answer")
  t.ok(third.headers['x-ratelimit-limit'] !== undefined || third.headers['retry-after'] !== undefined)
})

t.test('rate limit options are checked at registration', async t => {
  await t.rejects(startApp({ rateLimit: { messages: { rate: 0, burst: 1 } } }), { code: 'FST_WEBCHANNEL_INVALID_OPTION' })
  await t.rejects(startApp({ rateLimit: { onMessageLimit: 'drop' as 'close' } }), { code: 'FST_WEBCHANNEL_INVALID_OPTION' })
})
