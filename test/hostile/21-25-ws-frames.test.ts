// Cases 21-25: hostile WebSocket frames: bad UTF-8, binary, non-envelopes,
// __proto__ payloads, schema violations, request-id abuse, reserved and
// unauthorized channels. Raw `ws` clients on 127.0.0.1.
import t from 'tap'
import { Type } from 'typebox'
import WebSocket from 'ws'
import { hostileServer, wcServes, wsServes } from '../helpers/hostile.js'
import { connectWs, nextFrame } from '../helpers/ws-client.js'

/** The next `n` frames, however many arrive in one read. */
function frames (ws: WebSocket, n: number): Promise<any[]> {
  const got: any[] = []
  return new Promise(resolve => {
    const on = (data: Buffer) => {
      got.push(JSON.parse(data.toString()))
      if (got.length === n) { ws.off('message', on); resolve(got) }
    }
    ws.on('message', on)
  })
}

const send = (ws: WebSocket, v: unknown): void => ws.send(typeof v === 'string' ? v : JSON.stringify(v))

t.test('case 21: an invalid UTF-8 text frame closes with 1007', async t => {
  const h = await hostileServer(t)
  const c = await connectWs(h.s.wsUrl)
  // A masked text frame with the bytes C3 28 (an invalid 2-byte sequence), written below ws's own checks.
  const socket = (c.ws as unknown as { _socket: import('node:net').Socket })._socket
  socket.write(Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0xc3, 0x28]))
  t.equal((await c.closed)[0], 1007)
  t.equal((await h.whenEnded(() => true)).code, 1007, 'the session reports 1007')
  await wsServes(t, h.s.wsUrl)
})

t.test('case 21: a binary frame on the JSON protocol is never dispatched: it goes to the raw hook, the connection stays open (documented)', async t => {
  let calls = 0
  const h = await hostileServer(t, {}, app => { app.webchannel.on('count', () => ++calls) })
  const c = await connectWs(h.s.wsUrl)
  c.ws.send(Buffer.from(JSON.stringify({ i: 1, a: ['count'] })), { binary: true })
  send(c.ws, { i: 2, a: ['count'] })
  t.same(await nextFrame(c.ws), { i: 2, d: 1 }, 'only the text request ran')
  t.equal(calls, 1)
  t.ok(Buffer.isBuffer(h.got[0]), 'the binary frame reached the raw hook as bytes')
  t.equal(c.ws.readyState, WebSocket.OPEN)
  c.ws.close()
})

t.test('case 22: non-JSON, shapeless JSON, ws-wrapper:false and __proto__ frames are never dispatched; nothing is polluted; the connection stays open', async t => {
  let calls = 0
  const h = await hostileServer(t, {}, app => { app.webchannel.on('count', () => ++calls) })
  const c = await connectWs(h.s.wsUrl)
  const hostile = [
    'not json at all', '', '{', '[]', '42', 'null', '"count"', '{}', '{"a":"count"}', '{"a":[]}', '{"a":[42]}', '{"a":[null,1]}',
    '{"ws-wrapper":false,"a":["count"],"i":3}',
    '{"__proto__":{"a":["count"],"i":4,"polluted":true}}',
    '{"a":["count"],"c":{"__proto__":{"polluted":true}},"i":5}',
    '{"constructor":{"prototype":{"polluted":true}},"a":["count"]}',
  ]
  const replies: any[] = []
  const last = new Promise<void>(resolve => c.ws.on('message', (data) => {
    replies.push(JSON.parse(data.toString()))
    if (replies.at(-1).i === 9) resolve()
  }))
  for (const f of hostile) send(c.ws, f)
  send(c.ws, { i: 9, a: ['count'] })
  await last
  t.same(replies, [{ i: 9, d: 2 }], 'besides the last request, only the well-formed constructor-keyed event ran the handler')
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype polluted')
  t.ok(h.got.some(g => typeof g === 'string' && g.includes('"ws-wrapper":false')), 'the opted-out frame reached the raw hook')
  t.equal(c.ws.readyState, WebSocket.OPEN)
  c.ws.close()
  await wsServes(t, h.s.wsUrl)
})

t.test('case 22: a client\'s error reply with __proto__ rejects the server\'s request with a real Error, extra fields under details', async t => {
  let caught: unknown = null
  const h = await hostileServer(t, {}, app => {
    app.webchannel.on('ask', async (ctx) => {
      try { await ctx.session.requestClient('question') } catch (err) { caught = err }
      return 'asked'
    })
  })
  // A bare ws client: the ws-wrapper client would answer the request itself.
  const ws = new WebSocket(h.s.wsUrl)
  await new Promise(resolve => ws.once('open', resolve))
  const c = { ws }
  send(c.ws, { i: 1, a: ['ask'] })
  const question = await nextFrame(c.ws)
  t.equal(question.a[0], 'question')
  c.ws.send(`{"i":${question.i},"e":{"message":"no","code":"X","__proto__":{"isAdmin":true},"extra":1},"_":1}`)
  t.same(await nextFrame(c.ws), { i: 1, d: 'asked' })
  t.ok(caught instanceof Error, 'instanceof Error')
  t.equal((caught as Error).message, 'no')
  t.equal((caught as Record<string, unknown>).isAdmin, undefined, 'no inherited isAdmin')
  t.same((caught as { details?: unknown }).details, { extra: 1 }, 'other fields under details')
  c.ws.close()
})

t.test('case 23: schema violations, unknown events and foreign channels never reach the handler; requests get a generic error without stack; the connection stays open', async t => {
  let calls = 0
  const h = await hostileServer(t, {}, app => {
    app.webchannel.on('typed', { args: [Type.Object({ n: Type.Number() })] }, () => { calls++; return 'ok' })
    app.webchannel.channel('room:*')
    app.webchannel.of('room:*').on('say', () => { calls++ })
  })
  const c = await connectWs(h.s.wsUrl)
  send(c.ws, { i: 1, a: ['typed', { n: 'x'.repeat(50) }] })
  const invalid = await nextFrame(c.ws)
  t.match(invalid, { i: 1, e: { code: 'WEBCHANNEL_VALIDATION', message: String }, _: 1 })
  t.notMatch(JSON.stringify(invalid), /xxxxxxxxxx/, 'the offending value is not echoed')
  t.notMatch(JSON.stringify(invalid), /at .*\.(js|ts):\d+/, 'no stack')
  send(c.ws, { a: ['typed', 'not an object'] })
  send(c.ws, { i: 2, a: ['nobody.home'] })
  t.match(await nextFrame(c.ws), { i: 2, e: { code: 'WEBCHANNEL_NO_HANDLER' }, _: 1 })
  send(c.ws, { i: 3, c: 'room:a', a: ['say', 'hi'] })
  t.match(await nextFrame(c.ws), { i: 3, e: { code: 'WEBCHANNEL_FORBIDDEN' }, _: 1 }, 'a channel the session has not joined')
  send(c.ws, { i: 4, a: ['typed', { n: 1 }] })
  t.same(await nextFrame(c.ws), { i: 4, d: 'ok' })
  t.equal(calls, 1, 'only the valid request ran')
  c.ws.close()
})

t.test('case 24: request ids that are not positive safe integers are never dispatched; unknown answer ids are ignored; in-flight requests are capped', async t => {
  let calls = 0
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  const h = await hostileServer(t, { maxInflightRequests: 3 }, app => {
    app.webchannel.on('count', () => ++calls)
    app.webchannel.on('slow', async () => { await gate; return 'done' })
  })
  const c = await connectWs(h.s.wsUrl)
  for (const i of [0, -1, 1.5, '7', 2 ** 53, 1e300, true, [1], { x: 1 }]) send(c.ws, `{"i":${JSON.stringify(i)},"a":["count"]}`)
  send(c.ws, { i: 424242, x: 'cancel' })
  send(c.ws, { h: 424242, x: 'cancel' })
  send(c.ws, { i: 535353, d: 'an answer nobody asked for' })
  send(c.ws, { i: 10, a: ['count'] })
  t.same(await nextFrame(c.ws), { i: 10, d: 1 }, 'only the well-formed request ran')
  for (let i = 20; i < 23; i++) send(c.ws, { i, a: ['slow'] })
  send(c.ws, { i: 23, a: ['slow'] })
  t.match(await nextFrame(c.ws), { i: 23, e: { code: 'WEBCHANNEL_TOO_MANY_REQUESTS' }, _: 1 }, 'the excess is refused, not queued')
  const done = frames(c.ws, 3)
  release()
  t.same((await done).map(d => d.i).sort(), [20, 21, 22])
  c.ws.close()
  await wsServes(t, h.s.wsUrl)
})

t.test('case 24: a duplicate request id while the first is pending gets an error reply and is not dispatched twice', async t => {
  let runs = 0
  const h = await hostileServer(t, {}, app => {
    app.webchannel.on('slow', async (_c, ms: number) => { runs++; await new Promise(resolve => setTimeout(resolve, ms)); return 'done' })
  })
  const c = await connectWs(h.s.wsUrl)
  send(c.ws, { i: 777001, a: ['slow', 300] })
  send(c.ws, { i: 777001, a: ['slow', 300] })
  const first = await nextFrame(c.ws)
  t.match(first, { i: 777001, e: { message: String }, _: 1 }, 'the duplicate is refused at once')
  t.same(await nextFrame(c.ws), { i: 777001, d: 'done' })
  t.equal(runs, 1, 'the handler ran once')
  c.ws.close()
})

t.test('case 25: reserved names on the main channel, empty or huge channel names and unauthorized subscribes are never dispatched; refusals are generic and create no membership', async t => {
  let calls = 0
  const h = await hostileServer(t, {}, app => {
    app.webchannel.channel('room:*', { authorize: (_s, name) => name !== 'room:admins' })
    app.webchannel.of('room:*').on('say', () => { calls++ })
  })
  const c = await connectWs(h.s.wsUrl)
  let i = 1
  for (const name of ['open', 'connect', 'message', 'error', 'close', 'disconnect']) {
    send(c.ws, { i, a: [name] })
    t.match(await nextFrame(c.ws), { i, e: { code: 'WEBCHANNEL_NO_HANDLER' } }, `reserved "${name}"`)
    i++
  }
  const refusals: unknown[] = []
  for (const channel of ['room:admins', '', 'x'.repeat(100_000), 'undeclared']) {
    send(c.ws, { i, a: ['subscribe', channel] })
    const r = await nextFrame(c.ws)
    refusals.push(r.e)
    i++
  }
  t.same(refusals, refusals.map(() => ({ message: 'Forbidden', code: 'WEBCHANNEL_FORBIDDEN' })), 'one generic refusal, no validator detail')
  t.equal(h.s.app.webchannel.to('room:admins').localCount(), 0, 'no membership created')
  send(c.ws, { i, c: 'room:admins', a: ['say'] })
  t.match(await nextFrame(c.ws), { e: { code: 'WEBCHANNEL_FORBIDDEN' } })
  t.equal(calls, 0)
  c.ws.close()
  await wsServes(t, h.s.wsUrl)
  await wcServes(t, h.origin)
})
