// The example app's contract, over HTTP and the real transports from Node:
// login, the auth hook (Bearer, ?token=, cookie, else 401), echo/whoami, the
// rooms and their refusal, chat.send validation and fan-out across transports.
import t from 'tap'
import WebSocket from 'ws'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../example-app/app.js'
import type { ChatEvents, ChatMessage } from '../example-app/events.js'
import { connect, RemoteError, type Client } from '../lib/client/index.js'
import { closeAll, nextEvent } from './helpers/client-server.js'

interface Running { app: FastifyInstance, origin: string }

async function start (): Promise<Running> {
  const app = await buildApp()
  await app.listen({ host: '127.0.0.1', port: 0 })
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  return { app, origin }
}

async function login (origin: string, name: string): Promise<string> {
  const res = await fetch(origin + '/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
  if (res.status !== 200) throw new Error('login failed: ' + res.status)
  return (await res.json() as { token: string }).token
}

async function chatClient (origin: string, name: string, transport: 'websocket' | 'webchannel'): Promise<Client<ChatEvents>> {
  const c = connect<ChatEvents>(origin + '/channel', { transport, WebSocket, token: await login(origin, name) })
  await nextEvent(c, 'open')
  return c
}

t.test('POST /login returns a token; bad names are refused', async t => {
  const s = await start()
  t.teardown(() => s.app.close())
  const res = await s.app.inject({ method: 'POST', url: '/login', payload: { name: 'ann' } })
  t.equal(res.statusCode, 200)
  t.match(res.json(), { token: /^\S+$/ })
  t.match(res.headers['set-cookie'], /^token=[^;]+; Path=\/channel; HttpOnly; SameSite=Strict$/)
  t.equal((await s.app.inject({ method: 'POST', url: '/login', payload: {} })).statusCode, 400)
  t.equal((await s.app.inject({ method: 'POST', url: '/login', payload: { name: '' } })).statusCode, 400)
})

t.test('the auth hook accepts Bearer, ?token= and the cookie, and refuses anything else with 401', async t => {
  const s = await start()
  t.teardown(() => s.app.close())
  const token = (await s.app.inject({ method: 'POST', url: '/login', payload: { name: 'ann' } })).json<{ token: string }>().token
  // Past the hook, a plain GET of the WebSocket route gets 426 (upgrade required).
  const ws = (headers: Record<string, string>, query = '') => s.app.inject({ method: 'GET', url: '/channel/ws' + query, headers })
  t.equal((await ws({ authorization: 'Bearer ' + token })).statusCode, 426)
  t.equal((await ws({}, '?token=' + encodeURIComponent(token))).statusCode, 426)
  t.equal((await ws({ cookie: 'a=b; token=' + encodeURIComponent(token) })).statusCode, 426)
  t.equal((await ws({})).statusCode, 401)
  t.equal((await ws({ authorization: 'Bearer nope' })).statusCode, 401)
  t.equal((await ws({}, '?token=' + encodeURIComponent(token.slice(0, -2) + 'xx'))).statusCode, 401)
  t.equal((await ws({ authorization: 'Basic ' + token })).statusCode, 401)
  // The WebChannel handshake goes through the same hook.
  const hs = await s.app.inject({ method: 'POST', url: '/channel?VER=8&RID=1&CVER=22&zx=a&t=1', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'count=0' })
  t.equal(hs.statusCode, 401)
  const ok = await s.app.inject({ method: 'POST', url: '/channel?VER=8&RID=1&CVER=22&zx=a&t=1&token=' + encodeURIComponent(token), headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'count=0' })
  t.equal(ok.statusCode, 200)
  t.match(ok.body, /\["c","/)
  // Pages and login stay public.
  t.equal((await s.app.inject({ method: 'GET', url: '/' })).statusCode, 200)
  t.equal((await s.app.inject({ method: 'GET', url: '/assets/app.js' })).statusCode, 200)
})

for (const transport of ['websocket', 'webchannel'] as const) {
  t.test(`echo and whoami over ${transport}`, async t => {
    const s = await start()
    const c = await chatClient(s.origin, 'zoë', transport)
    t.teardown(() => closeAll(s.app, c))
    t.same(await c.request('echo', { deep: [1, 'two', null] }), { deep: [1, 'two', null] })
    t.equal(await c.request('echo', 'plain'), 'plain')
    t.equal(await c.request('whoami'), 'zoë')
  })
}

t.test('rooms: anyone may join, room:admins only admin (generic refusal)', async t => {
  const s = await start()
  const bob = await chatClient(s.origin, 'bob', 'websocket')
  const admin = await chatClient(s.origin, 'admin', 'webchannel')
  t.teardown(() => closeAll(s.app, bob, admin))
  await bob.subscribe('room:lobby')
  const refused = await bob.subscribe('room:admins').catch((e: unknown) => e) as RemoteError
  t.ok(refused instanceof RemoteError)
  t.same(refused.details, { message: 'Forbidden', code: 'WEBCHANNEL_FORBIDDEN' })
  const undeclared = await bob.subscribe('lobby').catch((e: unknown) => e) as RemoteError
  t.same(undeclared.details, refused.details, 'same answer as an undeclared channel')
  await admin.subscribe('room:admins')
  t.equal(s.app.webchannel.to('room:admins').localCount(), 1)
})

t.test('chat.send: validated, only into joined rooms, fanned out on both transports', async t => {
  const s = await start()
  const ws = await chatClient(s.origin, 'wes', 'websocket')
  const wc = await chatClient(s.origin, 'wendy', 'webchannel')
  t.teardown(() => closeAll(s.app, ws, wc))

  const notJoined = await ws.request('chat.send', { room: 'lobby', text: 'hi' }).catch((e: unknown) => e) as RemoteError
  t.equal(notJoined.code, 'WEBCHANNEL_VALIDATION')
  t.equal(notJoined.path, '/0/room')

  await ws.subscribe('room:lobby')
  await wc.subscribe('room:lobby')
  for (const [payload, path] of [
    [{ room: 'lobby', text: '' }, '/0/text'],
    [{ room: 'lobby', text: 'x'.repeat(501) }, '/0/text'],
    [{ room: 'lobby' }, '/0'],
    [{ room: 'lobby', text: 5 }, '/0/text'],
  ] as const) {
    const err = await ws.request('chat.send', payload as unknown as { room: string, text: string }).catch((e: unknown) => e) as RemoteError
    t.equal(err.code, 'WEBCHANNEL_VALIDATION', JSON.stringify(payload).slice(0, 60))
    t.match(err.path, path)
  }

  const atWc = new Promise<ChatMessage>(resolve => wc.of('room:lobby').once('chat.message', resolve))
  const atWs = new Promise<ChatMessage>(resolve => ws.of('room:lobby').once('chat.message', resolve))
  const sent = await ws.request('chat.send', { room: 'lobby', text: 'x'.repeat(500) })
  t.match(sent, { id: String, ts: Number })
  const expected = { id: sent.id, room: 'lobby', from: 'wes', text: 'x'.repeat(500), ts: sent.ts }
  t.same(await atWc, expected)
  t.same(await atWs, expected)

  const back = new Promise<ChatMessage>(resolve => ws.of('room:lobby').once('chat.message', resolve))
  const reply = await wc.request('chat.send', { room: 'lobby', text: 'réponse 😀' })
  t.same(await back, { id: reply.id, room: 'lobby', from: 'wendy', text: 'réponse 😀', ts: reply.ts })
})
