// Cases 1-5: hostile long-poll requests (bodies, queries, map keys, payloads,
// unknown SIDs), black-box over raw HTTP on 127.0.0.1.
import http from 'node:http'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { Type } from 'typebox'
import { parseFrames } from '../../lib/codecs/webchannel-framing.js'
import { bc, enc, fwd, hostileServer, hs, maps, P, wcServes } from '../helpers/hostile.js'
import { handshake, request } from '../helpers/wc-raw.js'

/** POST a chunked body of `total` bytes (no Content-Length) until the server answers; bounded. */
function chunkedPost (port: number, path: string, total: number, headers: Record<string, string> = {}): Promise<{ status: number, body: string, sent: number }> {
  return new Promise((resolve, reject) => {
    let sent = 0
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'transfer-encoding': 'chunked', ...headers } }, res => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => { req.destroy(); resolve({ status: res.statusCode ?? 0, body, sent }) })
    })
    req.on('error', reject)
    const chunk = Buffer.alloc(64 * 1024, 'a')
    const pump = (): void => {
      while (sent < total && !req.destroyed) {
        sent += chunk.length
        if (!req.write(chunk)) { req.once('drain', pump); return }
      }
      if (!req.destroyed) req.end()
    }
    req.write('count=1&ofs=0&req0_a=')
    pump()
  })
}

t.test('case 1: a 10 MB long-poll body gets 413 before it is buffered; no session is created', async t => {
  const h = await hostileServer(t)
  const declared = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: h.s.port, method: 'POST', path: hs(), agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(10 * 1024 * 1024) } }, res => { res.resume(); resolve(res.statusCode ?? 0); req.destroy() })
    req.on('error', reject)
    req.flushHeaders()
  })
  t.equal(declared, 413, 'a declared 10 MB body: 413 without sending a byte of it')
  const chunked = await chunkedPost(h.s.port, hs(), 10 * 1024 * 1024)
  t.equal(chunked.status, 413, 'a chunked 10 MB body: 413 once past the limit')
  t.ok(chunked.sent < 10 * 1024 * 1024 || chunked.status === 413, `answered while the body was still coming (${chunked.sent} bytes sent)`)
  t.equal(h.s.app.webchannel.sessions.size, 0, 'no session created')
  await wcServes(t, h.origin)
})

t.test('case 1: a gzip bomb (Content-Encoding: gzip) is never decompressed: refused like any malformed body (safer than 413: no inflate at all)', async t => {
  const h = await hostileServer(t)
  const bomb = gzipSync(Buffer.alloc(50 * 1024 * 1024, '0'))
  t.ok(bomb.length < 100 * 1024, `the bomb is ${bomb.length} bytes on the wire`)
  const rss = process.memoryUsage().rss
  const res = await new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: h.s.port, method: 'POST', path: hs(), agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip', 'content-length': String(bomb.length) } }, r => {
      let body = ''
      r.on('data', (c: Buffer) => { body += c.toString() })
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end(bomb)
  })
  t.ok([400, 413, 415].includes(res.status), `refused with ${res.status}`)
  t.ok(process.memoryUsage().rss - rss < 40 * 1024 * 1024, 'the 50 MB were never inflated')
  t.equal(h.s.app.webchannel.sessions.size, 0, 'no session created')
  await wcServes(t, h.origin)
})

t.test('case 2: count > 1000, huge or negative count/ofs/RID/AID, NaN, VER != 8: 400 from the schema; session state untouched', async t => {
  const h = await hostileServer(t)
  const { sid } = await handshake(h.origin)
  const session = h.s.app.webchannel.session(sid)
  session?.emit('m', 'queued')
  const before = session?.transport.bufferedAmount
  const bad: Array<[string, string | undefined]> = [
    [fwd(sid, 101), 'count=1001&ofs=0'],
    [fwd(sid, 101), 'count=99999999999999999999&ofs=0'],
    [fwd(sid, 101), 'count=-1&ofs=0'],
    [fwd(sid, 101), 'count=1&ofs=-5&req0_a=b'],
    [fwd(sid, 101), 'count=1&ofs=NaN&req0_a=b'],
    [fwd(sid, 101), 'count=1&ofs=99999999999999999999&req0_a=b'],
    [`${P}?VER=8&SID=${sid}&RID=NaN&AID=0`, 'count=0'],
    [`${P}?VER=8&SID=${sid}&RID=-1&AID=0`, 'count=0'],
    [`${P}?VER=8&SID=${sid}&RID=101&AID=NaN`, 'count=0'],
    [`${P}?VER=8&SID=${sid}&RID=101&AID=-7`, 'count=0'],
    [`${P}?VER=8&SID=${sid}&RID=101&AID=99999999999999999999`, 'count=0'],
    [`${P}?VER=7&SID=${sid}&RID=101&AID=0`, 'count=0'],
    [`${P}?VER=8.0&SID=${sid}&RID=101&AID=0`, 'count=0'],
    [`${P}?VER=8&RID=rpc&SID=${sid}&AID=NaN&CI=1&TYPE=xmlhttp`, undefined],
    [`${P}?VER=8&RID=rpc&SID=${sid}&AID=0&CI=1&TYPE=xmlhttp&TO=-1`, undefined],
  ]
  for (const [path, body] of bad) {
    const res = await request(h.origin, path, body === undefined ? {} : { body })
    t.equal(res.status, 400, `${path.replace(sid, '<sid>')} ${body ?? ''}`)
  }
  t.equal(session?.transport.bufferedAmount, before, 'nothing acknowledged by the refused requests')
  t.same(h.got, [], 'nothing delivered')
  const g = await request(h.origin, bc(sid, 0, 1))
  t.same((parseFrames(g.body).chunks.flat() as Array<[number, unknown]>).map(a => a[1]), [{ a: ['m', 'queued'] }], 'the queued message is still there')
  t.equal(h.s.app.webchannel.sessions.size, 1)
  await wcServes(t, h.origin)
})

t.test('case 3: map-key tricks: indexes beyond count and duplicates are 400; __proto__/constructor keys stay plain data', async t => {
  const h = await hostileServer(t)
  const { sid } = await handshake(h.origin)
  for (const body of ['count=1&ofs=0&req1_a=b', 'count=1&ofs=0&req5___data__=1', 'count=1&ofs=0&req0_a=1&req0_a=2', 'count=1&ofs=0&req0___data__=1&req0___data__=2', 'count=1&count=1&ofs=0', 'count=1&ofs=0&__proto__=x']) {
    t.equal((await request(h.origin, fwd(sid, 101), { body })).status, 400, body)
  }
  t.same(h.got, [], 'no map of a refused POST is delivered')
  const res = await request(h.origin, fwd(sid, 101), { body: 'count=1&ofs=0&req0___proto__=%7B%22isAdmin%22%3Atrue%7D&req0_constructor=x&req0_prototype=y' })
  t.equal(res.status, 200)
  t.equal(h.got.length, 1)
  const m = h.got[0] as Record<string, unknown>
  t.equal(Object.getOwnPropertyDescriptor(m, '__proto__')?.value, '{"isAdmin":true}', '__proto__ arrives as an own string field')
  t.equal(m.constructor, 'x')
  t.equal(({} as Record<string, unknown>).isAdmin, undefined, 'no prototype polluted')
  await wcServes(t, h.origin)
})

t.test('case 4: undecodable or invalid payloads are ACKed (no endless resend), never reach the handler, and a request gets a typed error; framing errors are 400 with no ACK', async t => {
  let calls = 0
  const h = await hostileServer(t, {}, app => {
    app.webchannel.on('typed', { args: [Type.Number()] }, (_c, n) => { calls++; return n })
  })
  const { sid } = await handshake(h.origin)
  const body = [
    'count=3&ofs=0',
    `req0___data__=${enc({ i: 1, a: ['typed', 'not a number'] })}`,
    `req1___data__=${enc({ a: ['typed', 'not a number'] })}`,
    'req2___data__=%7Bnot%20json',
  ].join('&')
  const res = await request(h.origin, fwd(sid, 101), { body })
  t.equal(res.status, 200, 'the three maps are acknowledged')
  t.equal(calls, 0, 'the handler never ran')
  const g = await request(h.origin, bc(sid, 0, 1))
  const arrays = parseFrames(g.body).chunks.flat() as Array<[number, any]>
  t.match(arrays[0][1], { i: 1, e: { code: 'WEBCHANNEL_VALIDATION', message: String }, _: 1 }, 'the request is answered with a typed error on the back channel')
  t.same(h.got, ['{not json'], 'a non-JSON __data__ string goes to the raw hook as a string (wire notes §5)')
  // A framing error: 400, and map id 3 is not acknowledged, so the client's retry is delivered.
  const broken = await request(h.origin, fwd(sid, 102), { body: 'count=1&ofs=3&req0___data__=%E0%A4%A' })
  t.equal(broken.status, 400)
  const retry = await request(h.origin, fwd(sid, 102), { body: maps(3, { a: ['typed', 5] }) })
  t.equal(retry.status, 200)
  t.equal(calls, 1, 'the resent map 3 is delivered: the 400 acknowledged nothing')
  await wcServes(t, h.origin)
})

t.test('case 5: unknown or random SIDs: 400 "Unknown SID" after index 0, no session created, same answer for every kind', async t => {
  const h = await hostileServer(t)
  const answers = new Set<string>()
  for (let i = 0; i < 50; i++) {
    const sid = Buffer.from(String(Math.random())).toString('base64url').slice(0, 22)
    for (const [path, init] of [[fwd(sid, 5), { body: 'count=0' }], [bc(sid, 0, 1), {}]] as const) {
      const res = await request(h.origin, path, init)
      t.equal(res.status, 400)
      t.ok(res.body.indexOf('Unknown SID') > 0)
      answers.add(`${res.status} ${res.headers['content-type']} ${res.body}`)
    }
  }
  t.equal(answers.size, 1, 'one answer for every unknown SID')
  t.equal(h.s.app.webchannel.sessions.size, 0, 'no session created')
  await wcServes(t, h.origin)
})

t.test('case 5: the plugin never logs a whole SID', async t => {
  const lines: string[] = []
  const { default: Fastify } = await import('fastify')
  const { default: webchannel } = await import('../../lib/index.js')
  const app = Fastify({ logger: { level: 'trace', stream: { write: (l: string) => { lines.push(l) } } } })
  await app.register(webchannel)
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const { sid } = await handshake(origin)
  await request(origin, fwd(sid, 101), { body: maps(0, { a: ['x'] }) })
  await request(origin, fwd('ZZZZZZZZZZZZZZZZZZZZZZ', 5), { body: 'count=0' })
  await request(origin, `${P}?VER=8&SID=${sid}&RID=102&TYPE=terminate`)
  // Fastify's own request lines carry req.url: the app's serializers decide those.
  const ours = lines.filter(l => !l.includes('"req":{'))
  t.ok(ours.length > 0, 'the plugin logged something')
  const leaks = ours.filter(l => l.includes(sid) || l.includes('ZZZZZZZZZZZZZZZZZZZZZZ'))
  t.same(leaks.map(l => l.slice(0, 200)), [], 'no plugin log line carries a whole SID')
})

t.test('case 5: unknown SIDs are rate-limited per IP (429 with Retry-After)', async t => {
  // The default burst (100) with a refill too slow to matter here: the outcome does not depend on the machine's speed.
  const h = await hostileServer(t, { rateLimit: { unknownSidPerIp: { rate: 0.001, burst: 100 } } })
  const statuses: number[] = []
  for (let i = 0; i < 300; i++) statuses.push((await request(h.origin, fwd(`unknown${i}`, 5), { body: 'count=0' })).status)
  t.ok(statuses.includes(429), 'some are answered 429')
  const limited = await request(h.origin, fwd('unknownX', 5), { body: 'count=0' })
  t.equal(limited.status, 429)
  t.ok(limited.headers['retry-after'], 'with Retry-After')
})
