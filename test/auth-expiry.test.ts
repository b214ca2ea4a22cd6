import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type { EndReason, WebChannelOptions } from '../lib/index.js'
import { startApp } from './helpers/app.js'
import { stream, handshake } from './helpers/wc-raw.js'
import { connectWs } from './helpers/ws-client.js'

// Credentials that run out mid-session (hostile case 26): the principal's
// `expiresAt`, or the app's `reauthenticate` hook, end the session on both
// transports, with pending requests rejected.

interface User { id: string, expiresAt?: number }

/** Each request's `x-user` and `x-ttl` headers become its principal (a stand-in for a token's claims). */
async function server (t: Test, options: WebChannelOptions = {}) {
  const ended: Array<{ reason: EndReason, code: number }> = []
  let endedOne!: () => void
  const firstEnd = new Promise<void>(resolve => { endedOne = resolve })
  const s = await startApp({
    ...options,
    principal: (request) => {
      const ttl = Number(request.headers['x-ttl'] ?? NaN)
      const user: User = { id: String(request.headers['x-user'] ?? 'anon') }
      if (Number.isFinite(ttl)) user.expiresAt = Date.now() + ttl
      return user
    },
    onSessionEnd: (_s, reason, code) => { ended.push({ reason, code }); endedOne() },
  }, (app: FastifyInstance) => {
    app.webchannel.on('hang', () => new Promise(() => {}))
    app.webchannel.on('whoami', (ctx) => (ctx.principal as User).id)
  })
  t.teardown(() => s.app.close())
  return { s, ended, firstEnd }
}

t.test('WebSocket: a principal past expiresAt is closed with 1008 and its pending requests fail', async t => {
  const { s, ended, firstEnd } = await server(t, { handlerTimeout: 0 })
  const c = await connectWs(s.wsUrl, { headers: { 'x-user': 'ann', 'x-ttl': '300' } })
  t.equal(await c.wrapper.request('whoami'), 'ann', 'valid before expiry')
  const pending = c.wrapper.request('hang').then(() => 'answered', () => 'rejected')
  const [code, reason] = await c.closed
  t.equal(code, 1008)
  t.equal(reason, 'Authentication expired')
  t.equal(await pending, 'rejected', 'the client sees its request fail')
  await firstEnd
  t.same(ended, [{ reason: 'expired', code: 1008 }])
  // A session without expiresAt is not touched.
  const d = await connectWs(s.wsUrl, { headers: { 'x-user': 'bob' } })
  t.equal(await d.wrapper.request('whoami'), 'bob')
  d.ws.close()
})

t.test('WebChannel: the back channel gets stop when the principal expires', async t => {
  const { s, ended, firstEnd } = await server(t)
  const origin = new URL(s.url).origin
  const headers = { 'x-user': 'cy', 'x-ttl': '300' }
  const { sid } = await handshake(origin, '/channel', 'count=0', headers)
  const bc = await stream(origin, `/channel?VER=8&RID=rpc&SID=${sid}&AID=0&CI=0&TYPE=xmlhttp`, { headers })
  await bc.until(text => text.includes('["stop"]'), 'stop on the back channel')
  await firstEnd
  t.same(ended, [{ reason: 'expired', code: 1008 }])
  bc.destroy()
})

t.test('reauthenticate: a session the hook refuses is ended as expired; a throwing hook too', async t => {
  const revoked = new Set<string>()
  const { s, ended } = await server(t, {
    reauthenticateInterval: 50,
    reauthenticate: async (session) => {
      const id = (session.principal as User).id
      if (id === 'boom') throw new Error('token service down')
      return !revoked.has(id)
    },
  })
  const keep = await connectWs(s.wsUrl, { headers: { 'x-user': 'keep' } })
  const gone = await connectWs(s.wsUrl, { headers: { 'x-user': 'gone' } })
  const boom = await connectWs(s.wsUrl, { headers: { 'x-user': 'boom' } })
  t.equal(await gone.wrapper.request('whoami'), 'gone')
  revoked.add('gone')
  t.same(await gone.closed, [1008, 'Authentication expired'])
  t.same(await boom.closed, [1008, 'Authentication expired'])
  t.equal(await keep.wrapper.request('whoami'), 'keep', 'the others stay')
  t.same(ended.map(e => e.reason), ['expired', 'expired'])
  keep.ws.close()
})

t.test('expiresAt already past (a Date) ends the session at once; one far in the future does not', async t => {
  const ended: EndReason[] = []
  const s = await startApp({
    principal: (request) => request.headers['x-when'] === 'past'
      ? { id: 'old', expiresAt: new Date(Date.now() - 1000) }
      : { id: 'new', expiresAt: Date.now() + 30 * 24 * 3600 * 1000 },
    onSessionEnd: (_s, reason) => { ended.push(reason) },
  }, app => { app.webchannel.on('whoami', (ctx) => (ctx.principal as User).id) })
  t.teardown(() => s.app.close())
  const old = await connectWs(s.wsUrl, { headers: { 'x-when': 'past' } })
  t.same(await old.closed, [1008, 'Authentication expired'])
  const fresh = await connectWs(s.wsUrl, { headers: { 'x-when': 'future' } })
  t.equal(await fresh.wrapper.request('whoami'), 'new', 'a deadline past setTimeout\'s range is armed in steps, not at once')
  fresh.ws.close()
  await fresh.closed
  t.same(ended[0], 'expired')
})

t.test('a synchronous reauthenticate hook', async t => {
  let allowed = true
  const s = await startApp({ reauthenticateInterval: 50, reauthenticate: () => allowed })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  allowed = false
  t.same(await c.closed, [1008, 'Authentication expired'])
})

t.test('a reauthenticate hook that throws synchronously ends that session; the sweep goes on to the next', async t => {
  const s = await startApp({
    principal: (request) => ({ id: String(request.headers['x-user']) }),
    reauthenticateInterval: 50,
    reauthenticate: (session) => {
      const id = (session.principal as User).id
      if (id === 'thrower') throw new Error('token service down')
      return id !== 'revoked'
    },
  }, app => { app.webchannel.on('whoami', (ctx) => (ctx.principal as User).id) })
  t.teardown(() => s.app.close())
  // Opened in this order, the sweep asks about them in this order.
  const thrower = await connectWs(s.wsUrl, { headers: { 'x-user': 'thrower' } })
  const revoked = await connectWs(s.wsUrl, { headers: { 'x-user': 'revoked' } })
  const keep = await connectWs(s.wsUrl, { headers: { 'x-user': 'keep' } })
  t.same(await thrower.closed, [1008, 'Authentication expired'], 'the throw ends the session')
  t.same(await revoked.closed, [1008, 'Authentication expired'], 'the session after it is still checked')
  t.equal(await keep.wrapper.request('whoami'), 'keep', 'an accepted session stays')
  keep.ws.close()
})
