// Issue 12's server-side points, seen through nginx with real clients. Those
// that needed a change in a server file were marked todo until it landed;
// they pass once it lands.
import http from 'node:http'
import t from 'tap'
import WebSocket from 'ws'
import { connect } from '../../lib/client/index.js'
import { openChannel } from '../helpers/wc-node-client.js'
import { urlParams } from './helpers/exchange.js'
import { toolsPresent } from './helpers/nginx.js'
import { login, startStack } from './helpers/stack.js'

/** A raw request through the proxy; resolves with status and body. */
function raw (url: string, init: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url)
    const body = init.body ?? ''
    const req = http.request({ method: init.method ?? 'GET', hostname: u.hostname, port: u.port, path: u.pathname + u.search, agent: false, headers: { ...init.headers, ...(init.body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) }) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('point 1: plain proxy_pass (Host is the upstream) with trustProxy: the browser origin is accepted', async t => {
  if (!toolsPresent(t)) return
  const stack = await startStack({ proxy: { readTimeout: '4s', plainHost: true }, app: { trustProxy: '127.0.0.1' } })
  t.teardown(() => stack.stop())
  const token = await login(stack.origin, 'p1')
  const hs = await raw(`${stack.origin}/channel?VER=8&RID=1&CVER=22&t=1&token=${token}`, { method: 'POST', headers: { origin: stack.origin }, body: 'count=0' })
  t.equal(hs.status, 200, 'WebChannel handshake with the page\'s Origin')
  const ws = new WebSocket(`${stack.origin.replace('http', 'ws')}/channel/ws?token=${token}`, { origin: stack.origin })
  const opened = await new Promise<string>(resolve => {
    ws.once('open', () => resolve('open'))
    ws.once('unexpected-response', (_req, res) => resolve(String(res.statusCode)))
    ws.once('error', (err) => resolve(err.message))
  })
  ws.terminate()
  t.equal(opened, 'open', 'WebSocket upgrade with the page\'s Origin')
})

t.test('point 1: without trustProxy the refusal says why (origin, host, the option to set)', async t => {
  if (!toolsPresent(t)) return
  const stack = await startStack({ proxy: { readTimeout: '4s', plainHost: true } })
  t.teardown(() => stack.stop())
  const token = await login(stack.origin, 'p1b')
  const hs = await raw(`${stack.origin}/channel?VER=8&RID=1&CVER=22&t=1&token=${token}`, { method: 'POST', headers: { origin: stack.origin }, body: 'count=0' })
  t.equal(hs.status, 403, 'refused: the app sees Host 127.0.0.1:<upstream port>')
  t.match(hs.body, /FST_WEBCHANNEL_ORIGIN_FORBIDDEN/)
  t.match(hs.body, /trustProxy/, 'the body names the option to set')
  t.match(hs.body, new RegExp(stack.origin.replace(/[.:/]/g, '.')), 'the body names the refused origin')
})

t.test('point 5: a throwing event handler on WebChannel does not cost the session behind a proxy', async t => {
  if (!toolsPresent(t)) return
  const stack = await startStack({
    proxy: { readTimeout: '4s' },
    extend: (app) => { app.webchannel.on('boom', () => { throw new Error('handler bug') }) },
  })
  t.teardown(() => stack.stop())
  const token = await login(stack.origin, 'p5')

  t.test('closure\'s client (Node)', async t => {
    const ch = openChannel(stack.origin + '/channel', { sendRawJson: true, messageUrlParams: urlParams(token) })
    t.teardown(() => ch.close())
    await ch.opened()
    ch.send({ a: ['boom'] })
    ch.send({ i: 1, a: ['echo', 'still here'] })
    const got = await ch.waitForMessages(1, 8000).catch(() => [])
    t.same(got, [{ i: 1, d: 'still here' }], 'the request after it is answered')
    t.notOk(ch.events.some(e => e.type === 'error'), 'no channel error')
  })

  t.test('the project\'s client', async t => {
    const client = connect(stack.origin + '/channel', { transport: 'webchannel', token })
    t.teardown(() => client.close())
    const closes: unknown[] = []
    client.on('close', (info) => closes.push(info))
    await new Promise(resolve => client.once('open', resolve))
    client.emit('boom')
    const echoed = await client.requestWith({ timeout: 8000 }, 'echo', 'still here').catch((e: Error) => e.message)
    t.equal(echoed, 'still here', 'the request after it is answered')
    t.same(closes, [], 'the session survived')
  })

  t.test('a throwing request handler is a typed error reply (works today)', async t => {
    const client = connect(stack.origin + '/channel', { transport: 'webchannel', token })
    t.teardown(() => client.close())
    const err = await client.request('boom').catch((e: unknown) => e)
    t.match(err, { code: 'WEBCHANNEL_HANDLER_ERROR' })
  })
})

t.test('point 3: a pongTimeout longer than pingInterval does not terminate a peer that answers every ping in time', async t => {
  // Following docs/deployment.md for a 10 s proxy timeout gives pingInterval 5000 with the default
  // pongTimeout 10000. Scaled down here; no proxy needed: the app's own timers decide.
  const { startApp } = await import('../helpers/app.js')
  const s = await startApp({ websocket: { pingInterval: 100, pongTimeout: 250 } })
  t.teardown(() => s.app.close())
  // A peer on a slow link: every pong leaves 180 ms after its ping, within pongTimeout (250). The
  // first check (at 350 ms) finds the ping of 300 ms unanswered, though it is not due before 550.
  const ws = new WebSocket(s.wsUrl, { autoPong: false })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  let pings = 0
  ws.on('ping', (data) => {
    pings++
    setTimeout(() => { if (ws.readyState === WebSocket.OPEN) ws.pong(data) }, 180)
  })
  const closed = new Promise<number>(resolve => ws.once('close', (code) => resolve(code)))
  // Bounded: about fifteen ping rounds.
  const outcome = await Promise.race([closed, new Promise<string>(resolve => setTimeout(() => resolve('open'), 1500))])
  ws.terminate()
  t.ok(pings >= 3, `pinged ${pings} times, each answered after 180 ms`)
  t.equal(outcome, 'open', 'still open')
})
