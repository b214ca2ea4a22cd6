import assert from 'node:assert/strict'
import Fastify from 'fastify'
import t from 'tap'
import WebSocket from 'ws'
import webchannel from '../lib/index.js'
import { connect } from '../lib/client/index.js'

// docs/testing.md's three ways in, run as written there.

async function appUnderTest () {
  const app = Fastify()
  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/channel')) return
    const token = request.headers.authorization ?? (request.query as { token?: string }).token
    if (token !== 'Bearer test' && token !== 'test') return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'no' })
    ;(request as unknown as { user: unknown }).user = { id: 'ann' }
  })
  await app.register(webchannel)
  app.webchannel.on('whoami', (ctx) => (ctx.principal as { id: string }).id)
  app.webchannel.on('echo', (_ctx, v: unknown) => v)
  return app
}

t.test('app.inject drives the long-poll transport', async t => {
  const app = await appUnderTest()
  t.teardown(() => app.close())
  const hs = await app.inject({
    method: 'POST',
    url: '/channel?VER=8&RID=1&CVER=22',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: 'Bearer test' },
    payload: 'count=1&ofs=0&req0___data__=' + encodeURIComponent(JSON.stringify({ i: 1, a: ['whoami'] })),
  })
  const arrays = JSON.parse(hs.body.slice(hs.body.indexOf('\n') + 1))
  const sid = arrays[0][1][1]
  t.equal(typeof sid, 'string')
  t.same(arrays[1], [1, { i: 1, d: 'ann' }])
  const refused = await app.inject({ method: 'POST', url: '/channel?VER=8&RID=1&CVER=22', payload: 'count=0', headers: { 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(refused.statusCode, 401, 'the app\'s hooks run on injected requests too')
})

t.test('injectWS drives the WebSocket transport', async t => {
  const app = await appUnderTest()
  t.teardown(() => app.close())
  await app.ready()
  const ws = await app.injectWS('/channel/ws', { headers: { authorization: 'Bearer test' } })
  const answer = new Promise(resolve => ws.once('message', (data) => resolve(JSON.parse(String(data)))))
  ws.send(JSON.stringify({ i: 1, a: ['echo', 'hi'] }))
  assert.deepEqual(await answer, { i: 1, d: 'hi' })
  t.pass('answered over injectWS')
  ws.terminate()
})

t.test('the client in Node against a listening app', async t => {
  const app = await appUnderTest()
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const client = connect(`http://127.0.0.1:${port}/channel`, { WebSocket: WebSocket as never, token: 'test' })
  await new Promise(resolve => client.once('open', resolve))
  t.equal(await client.request('echo', 'hi'), 'hi')
  client.close()
  await app.close()
})
