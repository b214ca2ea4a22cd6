// Cases 13-15: abandoned sessions, hostile text in what the server writes,
// and length prefixes for astral characters. Raw HTTP on 127.0.0.1.
import http from 'node:http'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { parseFrames } from '../../lib/codecs/webchannel-framing.js'
import { bc, hostileServer, P, wcServes } from '../helpers/hostile.js'
import { handshake, request } from '../helpers/wc-raw.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const heapAfterGc = (): number => { gc(); gc(); return process.memoryUsage().heapUsed }

t.test('case 13: a thousand sessions opened and abandoned expire, free their timers, and the heap returns to its baseline', async t => {
  // The per-IP session rate is the next test's subject; here a thousand sessions from one IP must open.
  const h = await hostileServer(t, { webchannel: { sessionTimeout: 500 }, rateLimit: { sessionsPerIp: false } })
  await wcServes(t, h.origin)
  const baseline = heapAfterGc()
  const N = 1000
  for (let i = 0; i < N; i += 50) await Promise.all(Array.from({ length: 50 }, () => handshake(h.origin)))
  t.equal(h.s.app.webchannel.sessions.size + h.ended.length - 1, N, `${N} sessions opened (some may have expired already)`)
  await h.whenEnded(() => h.ended.length >= N + 1)
  t.equal(h.s.app.webchannel.sessions.size, 0, 'all expired')
  t.ok(h.ended.slice(1).every(e => e.reason === 'timeout'), 'as timeouts')
  h.ended.length = 0
  const grown = heapAfterGc() - baseline
  t.ok(grown < 4 * 1024 * 1024, `heap back within 4 MiB of the baseline (${Math.round(grown / 1024)} KiB)`)
  t.equal(process.getActiveResourcesInfo().filter(r => r === 'Timeout').length < 20, true, 'no per-session timer left behind')
  await wcServes(t, h.origin)
})

t.test('case 13: sessions per principal are capped (429)', async t => {
  const h = await hostileServer(t, { maxSessionsPerPrincipal: 3 }, undefined, (app: FastifyInstance) => {
    app.addHook('onRequest', async (request) => { (request as unknown as { user: unknown }).user = { id: request.headers['x-user'] ?? 'anon' } })
  })
  for (let i = 0; i < 3; i++) await handshake(h.origin, P, 'count=0', { 'x-user': 'mallory' })
  const fourth = await request(h.origin, `${P}?VER=8&RID=1&CVER=22`, { body: 'count=0', headers: { 'x-user': 'mallory' } })
  t.equal(fourth.status, 429)
  t.equal(h.s.app.webchannel.sessions.size, 3)
  await wcServes(t, h.origin, { 'x-user': 'alice' })
})

t.test('case 13: new sessions per IP are rate-limited: 429 with Retry-After past the burst', async t => {
  const h = await hostileServer(t, { rateLimit: { sessionsPerIp: { rate: 1, burst: 20 }, sessionsPerPrincipal: false } })
  const statuses: number[] = []
  let retryAfter: string | undefined
  for (let i = 0; i < 40; i++) {
    const r = await request(h.origin, `${P}?VER=8&RID=1&CVER=22`, { body: 'count=0' })
    statuses.push(r.status)
    if (r.status === 429) retryAfter ??= r.headers['retry-after'] as string
  }
  t.same(statuses.slice(0, 20), Array(20).fill(200), 'the burst opens')
  t.ok(statuses.slice(20).filter(x => x === 429).length >= 18, 'then one IP is refused with 429 (one a second refills)')
  t.ok(Number(retryAfter) >= 1, 'with Retry-After')
})

t.test('case 14: TYPE=html with a script-breaking DOMAIN is 400 (obsolete) and nothing is reflected raw', async t => {
  const h = await hostileServer(t)
  const { sid } = await handshake(h.origin)
  const domain = encodeURIComponent("';alert(1)//</script><script>alert(2)</script>")
  for (const path of [`${bc(sid, 0, 0)}&TYPE=html&DOMAIN=${domain}`, `${P}?VER=8&RID=rpc&SID=${sid}&AID=0&CI=0&TYPE=html&DOMAIN=${domain}`]) {
    const res = await request(h.origin, path)
    t.equal(res.status, 400)
    t.notMatch(res.body, /alert|<script/i, 'the DOMAIN value is not echoed')
    t.match(res.headers['content-type'], /json|text\/plain/, 'never text/html')
  }
  const test = await request(h.origin, `${P}/test?VER=8&MODE=init&DOMAIN=${domain}`)
  t.equal(test.status, 200)
  t.equal(test.body, '[null,null]', 'the legacy test handler ignores DOMAIN')
  await wcServes(t, h.origin)
})

t.test('case 14: </script> and U+2028/U+2029 in payloads are written as strict JSON, escaped, with nosniff', async t => {
  const h = await hostileServer(t)
  const { sid, res } = await handshake(h.origin)
  t.equal(res.headers['x-content-type-options'], 'nosniff', 'handshake: nosniff')
  const hostile = '</script><script>alert(1)</script>\u2028\u2029'
  h.s.app.webchannel.toSession(sid).emit('m', hostile)
  h.s.app.webchannel.session(sid)?.sendRaw('raw </script>\u2028 not json')
  const g = await request(h.origin, bc(sid, 0, 1))
  t.equal(g.headers['x-content-type-options'], 'nosniff', 'back channel: nosniff')
  t.match(g.headers['content-type'], /^text\/plain/)
  t.notMatch(g.body, /[\u2028\u2029]/, 'no raw line separators on the wire')
  const arrays = parseFrames(g.body).chunks.flat() as Array<[number, unknown]>
  t.same(arrays.map(a => a[1]), [{ a: ['m', hostile] }, 'raw </script>\u2028 not json'], 'the values survive as JSON strings')
  const err = await request(h.origin, `${P}?VER=7`)
  t.match(err.headers['content-type'], /json/, 'errors are JSON, not HTML')
  await wcServes(t, h.origin)
})

t.test('case 15: astral characters in back-channel data: the prefix counts UTF-16 code units, not bytes', async t => {
  const h = await hostileServer(t)
  const { sid } = await handshake(h.origin)
  const text = 'héllo € 😀 𝄞 \u2028'
  h.s.app.webchannel.toSession(sid).emit('m', text)
  // Read the raw bytes, decode as the client does, then slice by the prefix.
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: h.s.port, path: bc(sid, 0, 1), agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve(Buffer.concat(chunks)))
    }).on('error', reject)
  })
  const body = bytes.toString('utf8')
  const nl = body.indexOf('\n')
  const prefix = Number(body.slice(0, nl))
  const json = body.slice(nl + 1)
  t.equal(prefix, json.length, 'prefix = UTF-16 length of the chunk')
  t.not(prefix, Buffer.byteLength(json), 'which differs from its byte length here')
  t.same(JSON.parse(json.slice(0, prefix)), [[1, { a: ['m', text] }]])
  await wcServes(t, h.origin)
})
