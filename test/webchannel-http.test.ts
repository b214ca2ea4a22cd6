// The WebChannel routes over raw HTTP: malformed and hostile input, the
// security checks, and the protocol rules the real client does not exercise
// on demand (acks, caps, expiry, keepalive, recycling, shutdown).
import t, { type Test } from 'tap'
import compress from '@fastify/compress'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { parseFrames } from '../lib/codecs/webchannel-framing.js'
import type { EndReason, WebChannelOptions } from '../lib/index.js'
import { startWcServer, until, type WcServer } from './helpers/wc-app.js'
import { handshake, request, stream } from './helpers/wc-raw.js'

interface Ctx { s: WcServer, ended: Array<{ id: string, reason: EndReason }>, got: unknown[] }

async function server (t: Test, options: WebChannelOptions = {}, setup?: (app: FastifyInstance, ctx: Ctx) => void | Promise<void>, pre?: (app: FastifyInstance) => void | Promise<void>, serverOptions: FastifyServerOptions = {}): Promise<Ctx> {
  const ctx = { ended: [], got: [] } as unknown as Ctx
  ctx.s = await startWcServer({
    ...options,
    webchannel: { keepaliveInterval: 2000, longPollTimeout: 300, ...options.webchannel },
    onSessionEnd: (session, reason) => { ctx.ended.push({ id: session.id, reason }) },
  }, async app => {
    app.webchannel.on('n', (_c, x: unknown) => { ctx.got.push(x) })
    app.webchannel.onRaw((_session, m) => { ctx.got.push(typeof m === 'string' ? m : { ...m as object }) })
    await setup?.(app, ctx)
  }, pre, serverOptions)
  t.teardown(() => ctx.s.app.close())
  return ctx
}

const P = '/channel'
const enc = (env: unknown) => encodeURIComponent(JSON.stringify(env))
const fwd = (sid: string, rid: number, aid = 0) => `${P}?VER=8&SID=${sid}&RID=${rid}&AID=${aid}&zx=z&t=1`
const bc = (sid: string, aid: number, ci: 0 | 1, extra = '') => `${P}?VER=8&RID=rpc&SID=${sid}&AID=${aid}&CI=${ci}&TYPE=xmlhttp&zx=z&t=1${extra}`

function jsonError (t: Test, res: { status: number, body: string }, status: number, code: string) {
  t.equal(res.status, status, res.body)
  const body = JSON.parse(res.body)
  t.match(body, { statusCode: status, code, error: String, message: String })
  return body
}

t.test('malformed queries are refused with a JSON 400 before any session exists', async t => {
  const { s } = await server(t)
  const bad = [
    `${P}?VER=7&RID=1`,
    `${P}?RID=1`,
    `${P}?VER=8&RID=abc`,
    `${P}?VER=8&RID=1.5`,
    `${P}?VER=8&RID=1&RID=2`,
    `${P}?VER=8&RID=1&SID=abc&AID=x`,
    `${P}?VER=8&RID=1&SID=abc&AID=-5`,
    `${P}?VER=8&RID=1&SID=a%20b`,
    `${P}?VER=8&RID=1&X-HTTP-Session-Id=SID`,
    `${P}?VER=8&RID=1&TYPE=init`,
  ]
  for (const path of bad) jsonError(t, await request(s.origin, path, { body: 'count=0' }), 400, 'FST_WEBCHANNEL_INVALID_REQUEST')
  const badGets = [
    `${P}?VER=8&RID=rpc&SID=abc&AID=0&CI=2&TYPE=xmlhttp`,
    `${P}?VER=8&RID=rpc&SID=abc&AID=0&CI=0&TYPE=html`,
    `${P}?VER=8&RID=rpc&SID=abc&AID=0&CI=0`,
    `${P}?VER=8&RID=rpc&AID=0&CI=0&TYPE=xmlhttp`,
    `${P}?VER=8&RID=rpc&SID=abc&AID=0&CI=1&TYPE=xmlhttp&TO=abc`,
  ]
  for (const path of badGets) jsonError(t, await request(s.origin, path), 400, 'FST_WEBCHANNEL_INVALID_REQUEST')
  const html = JSON.parse((await request(s.origin, `${P}?VER=8&RID=rpc&SID=abc&AID=0&CI=0&TYPE=html`)).body)
  t.match(html.message, /TYPE=html/)
  t.equal(s.app.webchannel.sessions.size, 0)
})

t.test('malformed forward bodies are refused with a JSON 400', async t => {
  const { s, got } = await server(t)
  const bodies = [
    'count=1001&ofs=0',
    'count=x',
    'count=1',
    'count=1&ofs=-1&req0_a=b',
    'count=1&ofs=0&req5_a=b',
    'count=1&ofs=0&req0_a=b&req0_a=c',
    'count=1&ofs=0&evil=1',
    'count=1&ofs=0&req0_a=%E0%A4%A',
  ]
  for (const body of bodies) jsonError(t, await request(s.origin, `${P}?VER=8&RID=1&CVER=22`, { body }), 400, 'FST_WEBCHANNEL_INVALID_REQUEST')
  t.equal(s.app.webchannel.sessions.size, 0, 'no session for a bad handshake')
  const { sid } = await handshake(s.origin)
  for (const body of bodies) jsonError(t, await request(s.origin, fwd(sid, 101), { body }), 400, 'FST_WEBCHANNEL_INVALID_REQUEST')
  t.same(got, [])
  // 1000 maps in one POST are fine.
  let big = 'count=1000&ofs=0'
  for (let i = 0; i < 1000; i++) big += `&req${i}___data__=${enc({ a: ['n', i] })}`
  const ok = await request(s.origin, fwd(sid, 102), { body: big })
  t.equal(ok.status, 200)
  t.equal(got.length, 1000)
  t.same(got.slice(0, 3), [0, 1, 2])
})

t.test('oversize bodies get 413 before they are buffered', async t => {
  const { s } = await server(t, { webchannel: { maxBodySize: 1000 } })
  const { sid } = await handshake(s.origin)
  const body = 'count=1&ofs=0&req0_a=' + 'x'.repeat(2000)
  jsonError(t, await request(s.origin, fwd(sid, 101), { body }), 413, 'FST_WEBCHANNEL_BODY_TOO_LARGE')
  // A declared length over the cap is refused without sending the body at all.
  const http = await import('node:http')
  const res = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: s.port, method: 'POST', path: fwd(sid, 102), headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': '100000000' } }, r => {
      let text = ''
      r.on('data', c => { text += c })
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body: text }))
    })
    req.on('error', reject)
    req.flushHeaders()
  })
  jsonError(t, res, 413, 'FST_WEBCHANNEL_BODY_TOO_LARGE')
})

t.test('unknown SID: 400 with "Unknown SID" after index 0, on every kind of request', async t => {
  const { s } = await server(t)
  for (const [path, init] of [
    [fwd('AAAAAAAAAAAAAAAAAAAAAA', 5), { body: 'count=0' }],
    [bc('AAAAAAAAAAAAAAAAAAAAAA', 0, 0), {}],
    [bc('AAAAAAAAAAAAAAAAAAAAAA', 0, 1), {}],
  ] as const) {
    const res = await request(s.origin, path, init)
    t.equal(res.status, 400)
    t.ok(res.body.indexOf('Unknown SID') > 0, res.body)
  }
  // Terminate of an unknown SID is ignored.
  const term = await request(s.origin, `${P}?VER=8&SID=AAAAAAAAAAAAAAAAAAAAAA&RID=9&TYPE=terminate`)
  t.equal(term.status, 200)
})

t.test('a session is bound to its principal: another caller gets exactly the unknown-SID answer', async t => {
  const { s, got } = await server(t, {}, undefined, app => {
    app.addHook('onRequest', async (request) => {
      const user = request.headers['x-user']
      if (typeof user === 'string') (request as unknown as { user: unknown }).user = { id: user }
    })
  })
  const { sid } = await handshake(s.origin, P, 'count=0', { 'x-user': 'alice' })
  const unknown = await request(s.origin, fwd('AAAAAAAAAAAAAAAAAAAAAA', 5), { body: 'count=0', headers: { 'x-user': 'bob' } })
  for (const headers of [{ 'x-user': 'bob' }, {} as Record<string, string>]) {
    const body = `count=1&ofs=0&req0___data__=${enc({ a: ['n', 'forged'] })}`
    const res = await request(s.origin, fwd(sid, 101), { body, headers })
    t.equal(res.status, unknown.status)
    t.equal(res.body, unknown.body)
    t.equal(res.headers['content-type'], unknown.headers['content-type'])
    const g = await request(s.origin, bc(sid, 0, 1), { headers })
    t.equal(g.status, 400)
    t.equal(g.body, unknown.body)
    const term = await request(s.origin, `${P}?VER=8&SID=${sid}&RID=9&TYPE=terminate`, { headers })
    t.equal(term.status, 200)
  }
  t.same(got, [], 'nothing was delivered for the foreign caller')
  t.equal(s.app.webchannel.sessions.size, 1, 'the foreign terminate did not end the session')
  const ok = await request(s.origin, fwd(sid, 101), { body: `count=1&ofs=0&req0___data__=${enc({ a: ['n', 'mine'] })}`, headers: { 'x-user': 'alice' } })
  t.equal(ok.status, 200)
  t.same(got, ['mine'])
})

t.test('origin check: a cross-site form POST is refused; same origin passes', async t => {
  const { s } = await server(t)
  const evil = await request(s.origin, `${P}?VER=8&RID=1&CVER=22`, { body: 'count=0', headers: { origin: 'http://evil.example' } })
  jsonError(t, evil, 403, 'FST_WEBCHANNEL_ORIGIN_FORBIDDEN')
  t.equal(s.app.webchannel.sessions.size, 0)
  const { sid } = await handshake(s.origin, P, 'count=0', { origin: s.origin })
  jsonError(t, await request(s.origin, fwd(sid, 101), { body: 'count=0', headers: { origin: 'http://evil.example' } }), 403, 'FST_WEBCHANNEL_ORIGIN_FORBIDDEN')
  jsonError(t, await request(s.origin, bc(sid, 0, 1), { headers: { origin: 'null' } }), 403, 'FST_WEBCHANNEL_ORIGIN_FORBIDDEN')
  t.equal((await request(s.origin, fwd(sid, 101), { body: 'count=0', headers: { origin: s.origin } })).status, 200)
})

t.test('cors option: exact origin, credentials, exposed headers, preflight', async t => {
  const allowed = 'http://app.example:8080'
  const { s } = await server(t, { webchannel: { cors: { origin: [allowed], credentials: true } } })
  const hs = await handshake(s.origin, P, 'count=0', { origin: allowed })
  t.equal(hs.res.headers['access-control-allow-origin'], allowed)
  t.equal(hs.res.headers['access-control-allow-credentials'], 'true')
  t.match(hs.res.headers['access-control-expose-headers'], /X-HTTP-Session-Id/)
  t.match(hs.res.headers['access-control-expose-headers'], /X-HTTP-Initial-Response/)
  const pre = await request(s.origin, `${P}?VER=8&RID=1&zx=q`, { method: 'OPTIONS', headers: { origin: allowed, 'access-control-request-method': 'POST', 'access-control-request-headers': 'x-client-protocol' } })
  t.equal(pre.status, 204)
  t.equal(pre.headers['access-control-allow-origin'], allowed)
  t.match(pre.headers['access-control-allow-methods'], /GET, POST/)
  t.equal(pre.headers['access-control-allow-headers'], 'x-client-protocol')
  const g = await stream(s.origin, bc(hs.sid, 0, 0), { headers: { origin: allowed } })
  t.equal(g.headers['access-control-allow-origin'], allowed, 'the hijacked back channel carries CORS headers too')
  g.destroy()
  jsonError(t, await request(s.origin, `${P}?VER=8&RID=1`, { body: 'count=0', headers: { origin: 'http://other.example' } }), 403, 'FST_WEBCHANNEL_ORIGIN_FORBIDDEN')
  jsonError(t, await request(s.origin, `${P}?VER=8&RID=1`, { method: 'OPTIONS', headers: { origin: 'http://other.example' } }), 403, 'FST_WEBCHANNEL_ORIGIN_FORBIDDEN')
})

t.test('$httpHeaders and encoded init headers: none by default', async t => {
  const seen: Array<Record<string, unknown>> = []
  const { s } = await server(t, {}, undefined, app => {
    app.addHook('preHandler', async (request) => {
      if (request.url.startsWith(P)) seen.push({ authorization: request.headers.authorization })
    })
  })
  const hdrs = encodeURIComponent('Authorization:Bearer q\r\n')
  t.equal((await request(s.origin, `${P}?VER=8&RID=1&CVER=22&$httpHeaders=${hdrs}`, { body: 'count=0' })).status, 200)
  t.equal((await request(s.origin, `${P}?VER=8&RID=1&CVER=22`, { body: `headers=${hdrs}&count=0` })).status, 200)
  t.same(seen, [{ authorization: undefined }, { authorization: undefined }], 'a URL cannot name the caller unless the app opts in')
})

t.test('opted-in $httpHeaders are merged before the app\'s own onRequest hooks run', async t => {
  const seen: unknown[] = []
  // An app-level hook registered before the plugin: the earliest place an app authenticates.
  const { s } = await server(t, { webchannel: { allowedHeaders: ['authorization'] } }, undefined, app => {
    app.addHook('onRequest', async (request) => {
      if (request.url.startsWith(P)) seen.push(request.headers.authorization)
    })
  })
  const hdrs = encodeURIComponent('Authorization:Bearer early\r\n')
  t.equal((await request(s.origin, `${P}?VER=8&RID=1&CVER=22&$httpHeaders=${hdrs}`, { body: 'count=0' })).status, 200)
  const fast = encodeURIComponent(`headers=${encodeURIComponent('Authorization:Bearer fast\r\n')}&count=0`)
  const fh = await stream(s.origin, `${P}?VER=8&RID=2&CVER=22&SID=null&$req=${fast}`)
  t.equal(fh.status, 200)
  fh.destroy()
  t.same(seen, ['Bearer early', 'Bearer fast'], 'the app\'s onRequest hook saw the URL\'s header')
})

t.test('allowedHeaders refuses names a URL must never set', async t => {
  for (const name of ['cookie', 'Host', 'connection', 'origin']) {
    await t.rejects(startWcServer({ webchannel: { allowedHeaders: [name] } }), { code: 'FST_WEBCHANNEL_INVALID_OPTION' }, name)
  }
})

t.test('$httpHeaders and encoded init headers: only allow-listed names become request headers', async t => {
  const seen: Array<Record<string, unknown>> = []
  const { s } = await server(t, { webchannel: { allowedHeaders: ['authorization'] } }, undefined, app => {
    app.addHook('preHandler', async (request) => {
      if (request.url.startsWith(P)) seen.push({ authorization: request.headers.authorization, cookie: request.headers.cookie })
    })
  })
  const hdrs = encodeURIComponent('Authorization:Bearer q\r\nCookie:stolen=1\r\n')
  const res = await request(s.origin, `${P}?VER=8&RID=1&CVER=22&$httpHeaders=${hdrs}`, { body: 'count=0' })
  t.equal(res.status, 200)
  const res2 = await request(s.origin, `${P}?VER=8&RID=1&CVER=22`, { body: `headers=${encodeURIComponent('Authorization:Bearer b\r\nCookie:c=2\r\n')}&count=0`, headers: { authorization: 'Bearer real' } })
  t.equal(res2.status, 200)
  t.same(seen, [{ authorization: 'Bearer q', cookie: undefined }, { authorization: 'Bearer real', cookie: undefined }], 'real headers win; cookie is not allowed')
  jsonError(t, await request(s.origin, `${P}?VER=8&RID=1&$httpHeaders=${encodeURIComponent('Bad Name:x')}`, { body: 'count=0' }), 400, 'FST_WEBCHANNEL_INVALID_REQUEST')
})

t.test('forward POSTs: a retried RID is acknowledged again but delivered once; maps are ordered by id', async t => {
  const { s, got } = await server(t)
  const { sid } = await handshake(s.origin)
  const body = `count=2&ofs=0&req0___data__=${enc({ a: ['n', 0] })}&req1___data__=${enc({ a: ['n', 1] })}`
  const r1 = await request(s.origin, fwd(sid, 101), { body })
  const r2 = await request(s.origin, fwd(sid, 101), { body })
  t.equal(r1.status, 200)
  t.match(r1.body, /^\d+\n\[[01],\d+,\d+\]$/)
  t.equal(r2.status, 200)
  t.same(got, [0, 1])
  // A later POST that arrives first waits for the earlier one (reordered by map id).
  const later = request(s.origin, fwd(sid, 103), { body: `count=1&ofs=3&req0___data__=${enc({ a: ['n', 3] })}` })
  await new Promise(resolve => setTimeout(resolve, 50))
  t.same(got, [0, 1], 'map 3 waits for map 2')
  // A retry may rebase ofs lower and repeat delivered maps: only new ids are delivered.
  const earlier = await request(s.origin, fwd(sid, 102), { body: `count=2&ofs=1&req0___data__=${enc({ a: ['n', 1] })}&req1___data__=${enc({ a: ['n', 2] })}` })
  t.equal(earlier.status, 200)
  t.equal((await later).status, 200)
  t.same(got, [0, 1, 2, 3])
})

t.test('a handler that throws on an event: logged, its map acknowledged, later maps delivered, the session lives', async t => {
  let calls = 0
  const { s, got } = await server(t, {}, app => {
    app.webchannel.on('flaky', (_c, x: unknown) => { calls++; throw new Error('not now ' + String(x)) })
  })
  const { sid } = await handshake(s.origin)
  const body = `count=3&ofs=0&req0___data__=${enc({ a: ['n', 'before'] })}&req1___data__=${enc({ a: ['flaky', 'x'] })}&req2___data__=${enc({ a: ['n', 'after'] })}`
  const r = await request(s.origin, fwd(sid, 101), { body })
  t.equal(r.status, 200, 'an HTTP answer, not a dropped connection (a 502 behind a proxy)')
  t.match(r.body, /^\d+\n\[[01],\d+,\d+\]$/)
  t.same(got, ['before', 'after'])
  t.equal(calls, 1, 'the throwing handler ran once: nothing asks the client to resend it')
  const again = await request(s.origin, fwd(sid, 102), { body: `count=1&ofs=3&req0___data__=${enc({ a: ['n', 'next'] })}` })
  t.equal(again.status, 200)
  t.same(got, ['before', 'after', 'next'])
})

t.test('an async event handler holds back the maps after it; the POST is answered once all are delivered', async t => {
  let release!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  let entered!: () => void
  const started = new Promise<void>(resolve => { entered = resolve })
  const { s, got } = await server(t, {}, app => {
    app.webchannel.on('slow', async (_c, x: unknown) => {
      entered()
      await gate
      got.push(x)
    })
  })
  const { sid } = await handshake(s.origin)
  let answered = false
  const first = request(s.origin, fwd(sid, 101), {
    body: `count=3&ofs=0&req0___data__=${enc({ a: ['n', 0] })}&req1___data__=${enc({ a: ['slow', 1] })}&req2___data__=${enc({ a: ['n', 2] })}`,
  }).then(r => { answered = true; return r })
  await started
  // A second POST while the handler runs queues behind it.
  const second = request(s.origin, fwd(sid, 102), { body: `count=1&ofs=3&req0___data__=${enc({ a: ['n', 3] })}` })
  t.same(got, [0], 'map 2 waits for the handler of map 1')
  t.equal(answered, false, 'the POST is not acknowledged before its last map is delivered')
  release()
  t.equal((await first).status, 200)
  t.equal((await second).status, 200)
  t.same(got, [0, 1, 2, 3])
})

t.test('maps not accepted because the session ended meanwhile: 503 without an ACK, then Unknown SID', async t => {
  let entered!: () => void
  const started = new Promise<void>(resolve => { entered = resolve })
  const { s, got } = await server(t, {}, app => {
    app.webchannel.on('slow', async (ctx) => { entered(); await new Promise(resolve => ctx.signal.addEventListener('abort', resolve)) })
  })
  const { sid } = await handshake(s.origin)
  const pending = request(s.origin, fwd(sid, 101), { body: `count=2&ofs=0&req0___data__=${enc({ a: ['slow'] })}&req1___data__=${enc({ a: ['n', 'x'] })}` })
  await started
  s.app.webchannel.toSession(sid).close(1000, 'bye')
  const r = await pending
  t.equal(r.status, 503)
  t.equal(JSON.parse(r.body).code, 'FST_WEBCHANNEL_NOT_ACCEPTED')
  t.equal(r.headers['retry-after'], '1')
  t.same(got, [], 'the map behind the unfinished one was never delivered')
  // The closing session lingers for its back channel to carry `close`: a resend is acknowledged and dropped, as on a closed socket.
  const retried = await request(s.origin, fwd(sid, 101), { body: `count=1&ofs=1&req0___data__=${enc({ a: ['n', 'x'] })}` })
  t.equal(retried.status, 200)
  t.same(got, [])
})

t.test('plain maps reach the raw hook as objects; _badmap is skipped', async t => {
  const { s, got } = await server(t)
  const { sid } = await handshake(s.origin)
  const res = await request(s.origin, fwd(sid, 101), { body: 'count=3&ofs=0&req0_hello=world&req0_n=1&req1_type=_badmap&req2___data__=not%20json' })
  t.equal(res.status, 200)
  t.same(got, [{ hello: 'world', n: '1' }, 'not json'])
})

t.test('AID: acknowledged arrays are freed, unacknowledged ones resent on the next back channel', async t => {
  const { s } = await server(t)
  const { sid } = await handshake(s.origin)
  const session = s.app.webchannel.session(sid)
  t.ok(session)
  for (let i = 0; i < 3; i++) session?.emit('m', i)
  const cLen = JSON.stringify(['c', sid, null, 8, 0, 2000]).length
  t.equal(session?.transport.bufferedAmount, cLen + 3 * JSON.stringify({ a: ['m', 0] }).length, 'c and three messages unacknowledged')
  const g1 = await request(s.origin, bc(sid, 0, 1))
  t.same(parseFrames(g1.body).chunks, [[[1, { a: ['m', 0] }], [2, { a: ['m', 1] }], [3, { a: ['m', 2] }]]])
  // The client says it only got array 1: 2 and 3 are resent.
  const g2 = await request(s.origin, bc(sid, 1, 1))
  t.same(parseFrames(g2.body).chunks, [[[2, { a: ['m', 1] }], [3, { a: ['m', 2] }]]])
  const r = await request(s.origin, fwd(sid, 101, 3), { body: 'count=0' })
  t.match(r.body, /^\d+\n\[0,3,0\]$/, 'all acknowledged by the POST; no back channel open')
  t.equal(session?.transport.bufferedAmount, 0)
  // Nothing pending: the poll is held, then answered with a noop (never an empty 200).
  const t0 = Date.now()
  const g3 = await request(s.origin, bc(sid, 3, 1))
  t.ok(Date.now() - t0 >= 250)
  t.same(parseFrames(g3.body).chunks, [[[4, ['noop']]]])
  // The client's TO caps the hold.
  const t1 = Date.now()
  const g4 = await request(s.origin, bc(sid, 4, 1, '&TO=50'))
  t.ok(Date.now() - t1 < 250)
  t.same(parseFrames(g4.body).chunks, [[[5, ['noop']]]])
})

t.test('streaming back channel: headers at once, noop first, chunks as written, keepalive, recycling', async t => {
  const { s } = await server(t, { webchannel: { keepaliveInterval: 200, backChannelMaxAge: 700, gzip: false } })
  const { sid } = await handshake(s.origin)
  const g = await stream(s.origin, bc(sid, 0, 0))
  t.equal(g.status, 200)
  await g.until(txt => txt === '14\n[[1,["noop"]]]', 'the immediate noop')
  s.app.webchannel.toSession(sid).emit('hi', 'é\u2028😀')
  await g.until(txt => txt.includes('"hi"'), 'the message while the GET stays open')
  t.notOk(g.ended)
  t.match(g.text, /\\u2028/, 'U+2028 escaped on the wire')
  t.ok(g.text.includes('"é') && g.text.includes('😀"'), 'other text travels as UTF-8, not \\u-escaped')
  // The prefix counts UTF-16 code units, as the client does: é is 1, 😀 is 2, the escape six ASCII units.
  const chunk = g.text.slice(g.text.indexOf(']]]') + 3)
  const nl = chunk.indexOf('\n')
  const framed = chunk.slice(nl + 1, nl + 1 + Number(chunk.slice(0, nl)))
  t.same(JSON.parse(framed)[0][1], { a: ['hi', 'é\u2028😀'] }, 'exactly the prefix\'s UTF-16 units make the chunk')
  const [, msg] = g.arrays()[1]
  t.same(msg, { a: ['hi', 'é\u2028😀'] })
  await g.until(() => g.arrays().filter(a => JSON.stringify(a[1]) === '["noop"]').length >= 2, 'a keepalive noop')
  await g.end(3000)
  t.ok(g.ended, 'ended after backChannelMaxAge; the client reopens it')
  const ids = g.arrays().map(a => a[0])
  t.same(ids, ids.map((_, i) => i + 1), 'consecutive ids')
})

t.test('a newer back channel replaces the older one', async t => {
  const { s } = await server(t, { webchannel: { gzip: false } })
  const { sid } = await handshake(s.origin)
  const g1 = await stream(s.origin, bc(sid, 0, 0))
  await g1.until(txt => txt.includes('noop'), 'noop')
  const g2 = await stream(s.origin, bc(sid, 1, 0))
  await g1.end()
  t.ok(g1.ended)
  s.app.webchannel.toSession(sid).emit('x')
  await g2.until(txt => txt.includes('"x"'), 'message on the new GET')
  g2.destroy()
})

t.test('slow consumer: the pending caps stop the session instead of growing memory', async t => {
  const { s, ended } = await server(t, { webchannel: { maxPendingMessages: 5 } })
  const { sid } = await handshake(s.origin)
  const results: number[] = []
  for (let i = 0; i < 10; i++) results.push(s.app.webchannel.toSession(sid).emit('m', i))
  t.same(results, [1, 1, 1, 1, 0, 0, 0, 0, 0, 0], 'sends past the cap are refused')
  t.same(ended.map(e => e.reason), ['error'])
  const g = await request(s.origin, bc(sid, 0, 1))
  const arrays = parseFrames(g.body).chunks.flat() as Array<[number, unknown]>
  t.same(arrays.at(-1)?.[1], ['stop'], 'the client gets stop')
  const after = await request(s.origin, bc(sid, 0, 1))
  t.ok(after.body.indexOf('Unknown SID') > 0, 'and then the session is gone')
})

t.test('slow consumer: the pending bytes cap too', async t => {
  const { s, ended } = await server(t, { webchannel: { maxPendingBytes: 1000 } })
  const { sid } = await handshake(s.origin)
  t.equal(s.app.webchannel.toSession(sid).emit('m', 'x'.repeat(500)), 1)
  t.equal(s.app.webchannel.toSession(sid).emit('m', 'x'.repeat(500)), 0, 'over 1000 bytes pending')
  t.same(ended.map(e => e.reason), ['error'])
})

t.test('idle sessions expire and free everything', async t => {
  const { s, ended } = await server(t, { webchannel: { sessionTimeout: 200 } })
  const { sid } = await handshake(s.origin)
  await until(() => ended.find(e => e.reason === 'timeout'), 'expiry')
  t.equal(s.app.webchannel.sessions.size, 0)
  const g = await request(s.origin, bc(sid, 0, 1))
  t.ok(g.body.indexOf('Unknown SID') > 0)
})

t.test('a session with a back channel does not expire', async t => {
  const { s, ended } = await server(t, { webchannel: { sessionTimeout: 200, gzip: false } })
  const { sid } = await handshake(s.origin)
  const g = await stream(s.origin, bc(sid, 0, 0))
  await new Promise(resolve => setTimeout(resolve, 400))
  t.same(ended, [])
  g.destroy()
  await until(() => ended.find(e => e.reason === 'timeout'), 'expiry once the GET is gone')
})

t.test('terminate by GET and by beacon POST ends the session; in-flight maps first', async t => {
  const { s, ended, got } = await server(t)
  const a = await handshake(s.origin)
  const g = await stream(s.origin, bc(a.sid, 0, 0))
  const term = await request(s.origin, `${P}?VER=8&SID=${a.sid}&RID=101&TYPE=terminate&zx=r`)
  t.equal(term.status, 200)
  await g.end()
  t.same(ended.map(e => e.reason), ['client-close'])
  const b = await handshake(s.origin)
  await request(s.origin, fwd(b.sid, 101), { body: `count=1&ofs=0&req0___data__=${enc({ a: ['n', 'last'] })}` })
  const beacon = await request(s.origin, `${P}?VER=8&SID=${b.sid}&RID=102&TYPE=terminate&zx=r`, { body: '', headers: { 'content-type': 'text/plain;charset=UTF-8', 'sec-fetch-mode': 'no-cors' } })
  t.equal(beacon.status, 200)
  t.same(ended.map(e => e.reason), ['client-close', 'client-close'])
  t.same(got, ['last'])
  t.equal(s.app.webchannel.sessions.size, 0)
})

t.test('session caps: hub.admit refuses with a JSON error', async t => {
  const { s } = await server(t, { maxSessions: 1 })
  await handshake(s.origin)
  jsonError(t, await request(s.origin, `${P}?VER=8&RID=1`, { body: 'count=0' }), 503, 'FST_WEBCHANNEL_TOO_MANY_SESSIONS')
})

for (const gzip of [false, true]) {
  t.test(`app.close() ends every back channel with close and frees every session (gzip: ${gzip})`, async t => {
    // forceCloseConnections cuts every socket as soon as the preClose hooks are done:
    // a gzipped back channel, which ends asynchronously, must be out by then.
    const ctx = await server(t, { webchannel: { gzip } }, undefined, undefined, { forceCloseConnections: true })
    const { s, ended } = ctx
    const a = await handshake(s.origin)
    const b = await handshake(s.origin)
    const g = await stream(s.origin, bc(a.sid, 0, 0), { headers: { 'accept-encoding': 'gzip', connection: 'keep-alive' } })
    t.equal(g.headers['content-encoding'], gzip ? 'gzip' : undefined)
    await g.until(txt => txt.includes('noop'), 'noop')
    await s.app.close()
    await g.end()
    t.same(g.arrays().at(-1)?.[1], ['close'], 'the last array is close')
    t.same(ended.map(e => e.reason).sort(), ['shutdown', 'shutdown'])
    t.ok(b.sid)
  })
}

t.test('the app closing a session inside onConnection: c and close in the one handshake chunk', async t => {
  const s = await startWcServer({ onConnection: (session) => { session.emit('bye'); session.close() } })
  t.teardown(() => s.app.close())
  const res = await request(s.origin, `${P}?VER=8&RID=1&CVER=22`, { body: 'count=0' })
  t.equal(res.status, 200)
  const chunks = parseFrames(res.body).chunks as Array<Array<[number, unknown[]]>>
  t.equal(chunks.length, 1)
  t.equal(chunks[0][0][1][0], 'c')
  t.same(chunks[0][1], [1, { a: ['bye'] }])
  t.same(chunks[0][2], [2, ['close']])
  t.equal(s.app.webchannel.sessions.size, 0)
})

t.test('the legacy /test handler: [null,null] (through @fastify/compress), then 11111 and 2 later (never compressed)', async t => {
  const { s } = await server(t, {}, undefined, async app => {
    await app.register(compress, { global: true, threshold: 0 })
  })
  const init = await request(s.origin, `${P}/test?VER=8&MODE=init&zx=a&t=1`, { headers: { 'accept-encoding': 'gzip' } })
  t.equal(init.status, 200)
  t.equal(init.body, '[null,null]')
  t.equal(init.headers['content-encoding'], 'gzip', 'threshold 0: the app\'s compress settings apply to the init answer')
  const g = await stream(s.origin, `${P}/test?VER=8&TYPE=xmlhttp&zx=a&t=1`, { headers: { 'accept-encoding': 'gzip' } })
  t.equal(g.headers['content-encoding'], undefined)
  await g.until(txt => txt === '11111', '11111 on its own')
  t.notOk(g.ended)
  await g.end(5000)
  t.equal(g.text, '111112')
  jsonError(t, await request(s.origin, `${P}/test?VER=7&MODE=init`), 400, 'FST_WEBCHANNEL_INVALID_REQUEST')
})

t.test('the /bind path serves the same handler (legacy BrowserChannel)', async t => {
  const { s } = await server(t)
  const { sid } = await handshake(s.origin, P + '/bind')
  const r = await request(s.origin, `${P}/bind?VER=8&SID=${sid}&RID=101&AID=0`, { body: 'count=0' })
  t.equal(r.status, 200)
})

t.test('fast handshake over raw HTTP: header JSON is ASCII, body streams', async t => {
  const { s } = await server(t, { webchannel: { gzip: false } }, app => {
    app.webchannel.on('echo', (c, x: unknown) => { c.session.emit('echo', x) })
  })
  const req = encodeURIComponent(`count=1&ofs=0&req0___data__=${enc({ a: ['echo', 'ü'] })}`)
  const g = await stream(s.origin, `${P}?VER=8&RID=5&CVER=22&$req=${req}&SID=null&zx=a&t=1`)
  const header = String(g.headers['x-http-initial-response'])
  t.match(header, /^[\x20-\x7e]+$/)
  const arrays = JSON.parse(header) as Array<[number, unknown[]]>
  t.equal(arrays[0][1][0], 'c')
  t.same(arrays[1], [1, { a: ['echo', 'ü'] }])
  await g.until(txt => txt.includes('noop'), 'the body is a back channel')
  t.same(g.arrays()[0][0], 2)
  g.destroy()
})

t.test('the app\'s own hooks guard every request kind', async t => {
  let allow = true
  const { s, got } = await server(t, {}, undefined, app => {
    app.addHook('onRequest', async (_request, reply) => {
      if (!allow) return reply.code(401).send({ statusCode: 401, code: 'AUTH', error: 'Unauthorized', message: 'no' })
    })
  })
  const { sid } = await handshake(s.origin)
  allow = false
  t.equal((await request(s.origin, `${P}?VER=8&RID=1`, { body: 'count=0' })).status, 401, 'handshake')
  t.equal((await request(s.origin, fwd(sid, 101), { body: `count=1&ofs=0&req0___data__=${enc({ a: ['n', 1] })}` })).status, 401, 'forward')
  t.equal((await request(s.origin, bc(sid, 0, 1))).status, 401, 'back channel')
  t.equal((await request(s.origin, `${P}?VER=8&SID=${sid}&RID=9&TYPE=terminate`)).status, 401, 'terminate')
  t.same(got, [])
  t.equal(s.app.webchannel.sessions.size, 1)
})

t.test('legacy OSID/OAID: a reconnecting BrowserChannel client closes its old session', async t => {
  const { s, ended } = await server(t)
  const old = await handshake(s.origin)
  const res = await request(s.origin, `${P}/bind?VER=8&RID=5&CVER=8&OSID=${old.sid}&OAID=0`, { body: 'count=0' })
  t.equal(res.status, 200)
  t.same(ended.map(e => [e.id, e.reason]), [[old.sid, 'client-close']])
  t.equal(s.app.webchannel.sessions.size, 1)
})
