// Cases 16-19: what a hostile web page can make a browser send: cross-site
// requests with cookies, smuggled $httpHeaders, terminate by beacon or
// image, and compression on the streaming back channel.
import compress from '@fastify/compress'
import t from 'tap'
import { parseFrames } from '../../lib/codecs/webchannel-framing.js'
import { bc, fwd, hostileServer, hs, maps, P, wcServes, wsServes } from '../helpers/hostile.js'
import { handshake, request, stream } from '../helpers/wc-raw.js'
import { refusedUpgrade } from '../helpers/ws-client.js'

const evil = 'https://evil.example'

t.test('case 16: a cross-site form POST and a cross-site WebSocket upgrade get 403 before any session or upgrade', async t => {
  const h = await hostileServer(t)
  const form = await request(h.origin, hs(), { body: 'count=0', headers: { origin: evil, cookie: 'session=victim', 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(form.status, 403)
  const upgrade = await refusedUpgrade(h.s.wsUrl, { headers: { origin: evil, cookie: 'session=victim' } })
  t.equal(upgrade.statusCode, 403, 'upgrade refused with 403, not 101 then close')
  t.equal(h.s.app.webchannel.sessions.size, 0, 'no session created')
  const same = await request(h.origin, hs(), { body: 'count=0', headers: { origin: h.origin } })
  t.equal(same.status, 200, 'same origin (Origin = Host) passes by default')
  await wcServes(t, h.origin)
  await wsServes(t, h.s.wsUrl)
})

t.test('case 16: allow-lists are compared as parsed origins, not as strings or prefixes', async t => {
  const h = await hostileServer(t, { origin: ['https://app.example'] })
  const cases: Array<[string, number]> = [
    ['https://app.example', 200],
    ['https://APP.example:443', 200],
    ['https://app.example.evil.com', 403],
    ['https://evil.com#https://app.example', 403],
    ['http://app.example', 403],
    ['https://app.example:8443', 403],
    ['null', 403],
    ['not a url', 403],
  ]
  for (const [origin, status] of cases) {
    t.equal((await request(h.origin, hs(), { body: 'count=0', headers: { origin } })).status, status, origin)
    if (status === 403) t.equal((await refusedUpgrade(h.s.wsUrl, { headers: { origin } })).statusCode, 403, `upgrade from ${origin}`)
  }
})

t.test('case 16: CORS never answers * with credentials: even cors.origin "*" echoes only an exact match (safer: a literal list)', async t => {
  const h = await hostileServer(t, { webchannel: { cors: { origin: '*', credentials: true } } })
  const res = await request(h.origin, hs(), { body: 'count=0', headers: { origin: evil } })
  t.equal(res.status, 403, 'an origin not listed literally is refused')
  t.not(res.headers['access-control-allow-origin'], '*')
})

t.test('case 17: $httpHeaders never smuggles Cookie, Host or hop-by-hop headers; values with CR/LF are refused; the block is capped', async t => {
  const seen: Array<Record<string, unknown>> = []
  const h = await hostileServer(t, {}, app => {
    app.addHook('preHandler', async (request) => {
      if (request.url.startsWith(P)) seen.push({ cookie: request.headers.cookie, host: request.headers.host, connection: request.headers.connection, te: request.headers['transfer-encoding'], xff: request.headers['x-forwarded-for'] })
    })
  })
  const smuggled = encodeURIComponent('Cookie:session=stolen\r\nHost:evil.example\r\nConnection:upgrade\r\nTransfer-Encoding:chunked\r\nX-Forwarded-For:10.0.0.1\r\n')
  const res = await request(h.origin, `${hs()}&$httpHeaders=${smuggled}`, { body: 'count=0' })
  t.equal(res.status, 200)
  t.equal(seen.length, 1)
  t.equal(seen[0].cookie, undefined, 'no cookie')
  t.match(seen[0].host, /^127\.0\.0\.1:/, 'host is the real one')
  t.not(seen[0].connection, 'upgrade')
  t.equal(seen[0].te, undefined)
  t.equal(seen[0].xff, undefined)
  const crlf = encodeURIComponent('Authorization:Bearer a\nX-Evil:1')
  t.equal((await request(h.origin, `${hs()}&$httpHeaders=${encodeURIComponent('Authorization:Bearer a\u0000b')}`, { body: 'count=0' })).status, 400, 'a control character in a value: 400')
  t.equal((await request(h.origin, `${hs()}&$httpHeaders=${crlf}&$httpHeaders=x`, { body: 'count=0' })).status, 400, 'a repeated $httpHeaders: 400')
  const huge = (await request(h.origin, `${hs()}&$httpHeaders=${encodeURIComponent('X-A:' + 'a'.repeat(20_000))}`, { body: 'count=0' })).status
  t.ok(huge === 400 || huge === 431, `a block over 16 KiB: ${huge} (431 when Node's header limit refuses the URL first)`)
  await wcServes(t, h.origin)
})

t.test('case 17: $httpHeaders does not merge Authorization by default', async t => {
  const seen: unknown[] = []
  const h = await hostileServer(t, {}, app => {
    app.addHook('preHandler', async (request) => { if (request.url.startsWith(P)) seen.push(request.headers.authorization) })
  })
  const res = await request(h.origin, `${hs()}&$httpHeaders=${encodeURIComponent('Authorization:Bearer bob\r\n')}`, { body: 'count=0' })
  t.equal(res.status, 200)
  t.same(seen, [undefined], 'the URL cannot carry an Authorization header unless the app opts in')
})

t.test('case 17: register refuses cookie, host and hop-by-hop names in webchannel.allowedHeaders', async t => {
  const { default: Fastify } = await import('fastify')
  const { default: webchannel } = await import('../../lib/index.js')
  for (const name of ['cookie', 'Host', 'connection', 'transfer-encoding', 'upgrade', 'te', 'keep-alive', 'proxy-authorization']) {
    const app = Fastify()
    await t.rejects(async () => { await app.register(webchannel, { webchannel: { allowedHeaders: [name] } }) }, { code: 'FST_WEBCHANNEL_INVALID_OPTION' }, name)
    await app.close()
  }
})

t.test('case 18: terminate by beacon (POST text/plain, empty) and by image GET: 200, no 415; unknown SID 200; a foreign principal cannot end a session', async t => {
  const h = await hostileServer(t, {}, undefined, app => {
    app.addHook('onRequest', async (request) => { (request as unknown as { user: unknown }).user = { id: request.headers['x-user'] ?? 'anon' } })
  })
  const alice = { 'x-user': 'alice' }
  const a = await handshake(h.origin, P, 'count=0', alice)
  const b = await handshake(h.origin, P, 'count=0', alice)
  // A cross-site <img> or beacon from another user (here: no cookie, so another principal).
  const foreign = await request(h.origin, `${P}?VER=8&SID=${a.sid}&RID=9&TYPE=terminate`, { headers: { 'x-user': 'mallory' } })
  t.equal(foreign.status, 200, 'answered 200 (the beacon reads nothing)')
  t.ok(h.s.app.webchannel.session(a.sid), 'but the session lives on')
  const beacon = await request(h.origin, `${P}?VER=8&SID=${a.sid}&RID=102&TYPE=terminate&zx=r`, { body: '', headers: { ...alice, 'content-type': 'text/plain;charset=UTF-8', 'sec-fetch-mode': 'no-cors' } })
  t.equal(beacon.status, 200, 'beacon: 200, no 415')
  const image = await request(h.origin, `${P}?VER=8&SID=${b.sid}&RID=102&TYPE=terminate&zx=r`, { headers: { ...alice, accept: 'image/avif,image/webp,*/*' } })
  t.equal(image.status, 200, 'image GET: 200')
  const form = await request(h.origin, `${P}?VER=8&SID=${b.sid}&RID=103&TYPE=terminate`, { body: '', headers: { ...alice, 'content-type': 'application/x-www-form-urlencoded' } })
  t.equal(form.status, 200, 'an empty form POST: 200')
  t.same(h.ended.map(e => e.reason), ['client-close', 'client-close'])
  t.equal((await request(h.origin, `${P}?VER=8&SID=AAAAAAAAAAAAAAAAAAAAAA&RID=9&TYPE=terminate`)).status, 200, 'unknown SID: 200, idempotent')
  t.equal((await request(h.origin, `${P}?VER=8&SID=${a.sid}&RID=104&TYPE=terminate`, { headers: alice })).status, 200, 'twice: 200')
  await wcServes(t, h.origin, alice)
})

t.test('case 19: with @fastify/compress on the app, the streaming back channel is gzip-flushed per chunk, with no-store and X-Accel-Buffering: no', async t => {
  const h = await hostileServer(t, { webchannel: { gzip: true } }, undefined, async app => { await app.register(compress, { global: true, threshold: 0 }) })
  const { sid } = await handshake(h.origin)
  const g = await stream(h.origin, bc(sid, 0, 0), { headers: { 'accept-encoding': 'gzip' } })
  t.equal(g.headers['content-encoding'], 'gzip', 'compressed')
  t.match(g.headers['cache-control'], /no-store/)
  t.equal(g.headers['x-accel-buffering'], 'no')
  await g.until(txt => txt.includes('noop'), 'the first noop, decompressed while the GET stays open')
  h.s.app.webchannel.toSession(sid).emit('m', 'flushed')
  await g.until(txt => txt.includes('flushed'), 'a message, flushed at once')
  t.notOk(g.ended, 'the GET is still open: nothing waited for the end of the response')
  t.equal(parseFrames(g.text).error, null)
  g.destroy()
  const post = await request(h.origin, fwd(sid, 101), { body: maps(0, { a: ['n', 1] }), headers: { 'accept-encoding': 'gzip' } })
  t.equal(post.status, 200)
  await wcServes(t, h.origin)
})
