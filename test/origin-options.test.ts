import Fastify from 'fastify'
import t, { type Test } from 'tap'
import webchannel, { type WebChannelOptions } from '../lib/index.js'
import { probeRefusal } from '../lib/client/probe.js'

// Every shape of the `origin` option, on a WebChannel handshake (the same
// check guards the WebSocket upgrade), and the client's refusal probe.

async function server (t: Test, origin: WebChannelOptions['origin'], trustProxy = false) {
  const app = Fastify({ trustProxy })
  app.addHook('onRequest', async (request, reply) => {
    if (request.url.startsWith('/locked')) return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'no' })
  })
  await app.register(webchannel, { origin })
  t.teardown(() => app.close())
  return app
}

async function handshakeFrom (app: Awaited<ReturnType<typeof server>>, origin: string, headers: Record<string, string> = {}): Promise<{ status: number, message: string }> {
  const res = await app.inject({
    method: 'POST',
    url: '/channel?VER=8&RID=1&CVER=22',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin, ...headers },
    payload: 'count=0',
  })
  return { status: res.statusCode, message: res.statusCode === 200 ? '' : res.json().message }
}

t.test("'*' allows any origin", async t => {
  const app = await server(t, '*')
  t.equal((await handshakeFrom(app, 'https://evil.example')).status, 200)
})

t.test('an exact origin, compared as parsed origins (default ports dropped)', async t => {
  const app = await server(t, 'https://app.example')
  t.equal((await handshakeFrom(app, 'https://app.example:443')).status, 200)
  const refused = await handshakeFrom(app, 'https://other.example')
  t.equal(refused.status, 403)
  t.match(refused.message, /not allowed by the plugin's origin option/)
  t.equal((await handshakeFrom(app, 'null')).status, 403, 'an opaque origin never matches')
})

t.test('a RegExp, a list, and a function', async t => {
  const re = await server(t, /^https:\/\/[a-z]+\.example\.org$/)
  t.equal((await handshakeFrom(re, 'https://a.example.org')).status, 200)
  t.equal((await handshakeFrom(re, 'https://a.example.com')).status, 403)
  const list = await server(t, ['https://one.example', /^https:\/\/two\./])
  t.equal((await handshakeFrom(list, 'https://one.example')).status, 200)
  t.equal((await handshakeFrom(list, 'https://two.example')).status, 200)
  t.equal((await handshakeFrom(list, 'https://three.example')).status, 403)
  const fn = await server(t, (origin) => origin.endsWith('.ok'))
  t.equal((await handshakeFrom(fn, 'https://site.ok')).status, 200)
  t.equal((await handshakeFrom(fn, 'https://site.no')).status, 403)
})

t.test("'same-origin' behind a proxy: trustProxy makes X-Forwarded-Host count; without it the body says what to set", async t => {
  const forwarded = { 'x-forwarded-host': 'public.example', 'x-forwarded-proto': 'https' }
  const trusted = await server(t, 'same-origin', true)
  t.equal((await handshakeFrom(trusted, 'https://public.example', forwarded)).status, 200)
  const direct = await server(t, 'same-origin', false)
  const refused = await handshakeFrom(direct, 'https://public.example', forwarded)
  t.equal(refused.status, 403)
  t.match(refused.message, /trustProxy/)
  t.match(refused.message, /https:\/\/public\.example/)
})

t.test("the client's refusal probe: 401/403 from the hooks, null for an accepted GET or no server", async t => {
  const app = await server(t, 'same-origin')
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  t.equal(await probeRefusal(`ws://127.0.0.1:${port}/locked/ws`), 401, 'the hook refused the plain GET too')
  t.equal(await probeRefusal(`ws://127.0.0.1:${port}/channel/ws`), null, 'an accepted GET gets 426: not a refusal')
  await app.close()
  t.equal(await probeRefusal(`ws://127.0.0.1:${port}/channel/ws`), null, 'nothing listening: no answer, no refusal')
})
