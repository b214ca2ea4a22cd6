// The session store's edges, with raw WebChannel requests against two
// instances in this process that share a redis-server of the test's own:
// a request at the instance that does not hold the session is relayed to the
// one that does; another principal's request learns nothing; a relayed request
// is never relayed again; app.close() moves a session, with its channels and
// unacknowledged messages, to the instance that gets its next request.
import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import { parseFrames } from '../../lib/codecs/webchannel-framing.js'
import webchannel, { RedisSessionStore, type EndReason, type Session } from '../../lib/index.js'
import { freePort } from '../deploy/helpers/nginx.js'
import { handshake, request } from '../helpers/wc-raw.js'
import { until } from '../helpers/wc-app.js'
import { startRedis } from './helpers/processes.js'

interface Instance { app: FastifyInstance, origin: string, opened: Session[], ended: Array<{ id: string, reason: EndReason }> }

async function instance (t: Test, redisPort: number, key: string): Promise<Instance> {
  const port = await freePort()
  const redis = new Redis({ host: '127.0.0.1', port: redisPort })
  const app = Fastify()
  const opened: Session[] = []
  const ended: Instance['ended'] = []
  // The principal: whoever the x-user header names.
  app.addHook('onRequest', async (req) => { (req as unknown as { user?: string }).user = req.headers['x-user'] as string | undefined })
  await app.register(webchannel, {
    sessionStore: new RedisSessionStore({ redis, key, advertise: `http://127.0.0.1:${port}`, instanceTtl: 1500 }),
    onConnection: (s) => { opened.push(s) },
    onSessionEnd: (s, reason) => { ended.push({ id: s.id, reason }) },
  })
  app.webchannel.onRaw((session, m) => { session.sendRaw(JSON.stringify({ echo: (m as { n?: string }).n })) })
  await app.listen({ host: '127.0.0.1', port })
  t.teardown(async () => { await app.close(); redis.disconnect() })
  return { app, origin: `http://127.0.0.1:${port}`, opened, ended }
}

const bind = (sid: string, extra: string): string => `/channel?VER=8&SID=${sid}&${extra}&zx=z&t=1`

t.test('session store edges', async t => {
  const redis = await startRedis()
  t.teardown(() => redis.stop('SIGKILL'))
  const key = 'edges-' + randomBytes(4).toString('hex')
  const a = await instance(t, redis.port, key)
  const b = await instance(t, redis.port, key)
  const alice = { 'x-user': 'alice' }
  const hs = await handshake(a.origin, '/channel', 'count=0', alice)
  const sid = hs.sid
  t.equal(a.opened.length, 1, 'the session opened at a')
  a.app.webchannel.toSession(sid).join('room')

  t.test('a request at the other instance is relayed to the owner', async t => {
    const post = await request(b.origin, bind(sid, 'RID=101&AID=0'), { body: 'count=1&ofs=0&req0_n=1', headers: alice })
    t.equal(post.status, 200, 'the forward POST was answered: ' + post.body)
    const poll = await request(b.origin, bind(sid, 'RID=rpc&AID=0&CI=1&TYPE=xmlhttp'), { headers: alice })
    t.equal(poll.status, 200)
    t.match(poll.body, /"echo":"1"/, 'the long poll at b carried a\'s echo')
    t.equal(b.opened.length, 0, 'b opened no session: it relayed')
  })

  t.test('another principal learns nothing, at the owner or elsewhere', async t => {
    for (const inst of [a, b]) {
      const res = await request(inst.origin, bind(sid, 'RID=rpc&AID=0&CI=1&TYPE=xmlhttp'), { headers: { 'x-user': 'mallory' } })
      t.equal(res.status, 400)
      t.match(res.body, /Unknown SID/)
    }
    t.equal(b.opened.length, 0, 'nobody took the session over')
  })

  t.test('a relayed request for a session the instance does not hold is refused, never relayed again', async t => {
    const res = await request(b.origin, bind(sid, 'RID=rpc&AID=0&CI=1&TYPE=xmlhttp'), { headers: { ...alice, 'x-webchannel-relay': 'someone' } })
    t.equal(res.status, 421)
    t.equal(JSON.parse(res.body).code, 'FST_WEBCHANNEL_NOT_OWNER')
  })

  t.test('app.close() moves the session: b takes it over with its channel and unacknowledged messages', async t => {
    a.app.webchannel.toSession(sid).emit('late', 1)
    await a.app.close()
    t.same(a.ended, [{ id: sid, reason: 'moved' }], 'a ended the session as moved')
    const poll = await request(b.origin, bind(sid, 'RID=rpc&AID=1&CI=1&TYPE=xmlhttp'), { headers: alice })
    t.equal(poll.status, 200)
    t.match(poll.body, /late/, 'the message a queued and the client never acknowledged')
    t.equal(b.opened.length, 1, 'b continues the session')
    const s = b.opened[0]
    t.equal(s.id, sid, 'with its id')
    t.ok(s.resumed, 'marked resumed')
    t.same([...s.channels], ['room'], 'with its channel')
    b.app.webchannel.to('room').emit('news', 'x')
    const arrays = parseFrames(poll.body).chunks[0] as Array<[number, unknown]>
    const last = arrays[arrays.length - 1][0]
    const next = await request(b.origin, bind(sid, `RID=rpc&AID=${last}&CI=1&TYPE=xmlhttp`), { headers: alice })
    t.match(next.body, /news/, 'a broadcast to the channel reaches it at b')
    await until(() => b.app.webchannel.inspect().length === 1 ? true : undefined, 'b lists the session')
  })
})
