// @fastify/compress and the WebChannel routes, seen on the wire. The replies
// sent through Fastify (handshake, forward POST, long poll, /test init) follow
// the app's compress settings; the streaming back channel is gzipped by the
// plugin itself and never buffered by compress. The sizes measured here are
// the figures in the README's compression section (printed as comments).
import http from 'node:http'
import { brotliDecompressSync, gunzipSync, gzipSync, inflateSync } from 'node:zlib'
import compress from '@fastify/compress'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { parseFrames } from '../lib/codecs/webchannel-framing.js'
import type { WebChannelOptions } from '../lib/index.js'
import { startWcServer, type WcServer } from './helpers/wc-app.js'
import { openChannel } from './helpers/wc-node-client.js'
import { stream } from './helpers/wc-raw.js'
import { xhrLog } from './helpers/wc-xhr.js'

const P = '/channel'
const HS = `${P}?VER=8&RID=100&CVER=22&zx=a&t=1`
const poll = (sid: string, aid: number) => `${P}?VER=8&RID=rpc&SID=${sid}&AID=${aid}&CI=1&TYPE=xmlhttp&zx=z&t=1`
const streaming = (sid: string) => `${P}?VER=8&RID=rpc&SID=${sid}&AID=0&CI=0&TYPE=xmlhttp&zx=z&t=1`

/** A chat message as an app would send it: ids and timestamps differ, the shape repeats. */
function chat (k: number) {
  return { id: `m-${(k * 2654435761 % 4294967296).toString(36)}-${k}`, ts: 1765000000000 + k * 1373, room: 'lobby', from: k % 2 === 0 ? 'alice' : 'bob', text: `message ${k}: see you at the stand-up, the build is green again` }
}

/** A forward body of `n` requests `echo(chat(k))`: a handshake whose answer carries n responses. */
function echoBatch (n: number): string {
  const fields = [`count=${n}`, 'ofs=0']
  for (let k = 0; k < n; k++) fields.push(`req${k}___data__=` + encodeURIComponent(JSON.stringify({ i: k + 1, a: ['echo', chat(k)] })))
  return fields.join('&')
}

interface Wire { status: number, encoding: string, bytes: number, text: string }

/** One request; the body as it crossed the wire (its size) and decoded. */
function wire (origin: string, path: string, acceptEncoding: string | null, body?: string, extra: Record<string, string> = {}): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, origin)
    const headers: Record<string, string> = { ...extra }
    if (acceptEncoding !== null) headers['accept-encoding'] = acceptEncoding
    if (body !== undefined) headers['content-type'] ??= 'application/x-www-form-urlencoded'
    const req = http.request({ method: body === undefined ? 'GET' : 'POST', host: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent: false }, res => {
      const parts: Buffer[] = []
      res.on('data', (c: Buffer) => parts.push(c))
      res.on('end', () => {
        const raw = Buffer.concat(parts)
        const encoding = String(res.headers['content-encoding'] ?? 'identity')
        const decode = { identity: (b: Buffer) => b, gzip: gunzipSync, br: brotliDecompressSync, deflate: inflateSync }[encoding]
        if (decode === undefined) return reject(new Error('unexpected content-encoding ' + encoding))
        resolve({ status: res.statusCode ?? 0, encoding, bytes: raw.length, text: decode(raw).toString('utf8') })
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}

async function server (t: Test, options: WebChannelOptions, pre?: (app: FastifyInstance) => Promise<void>): Promise<WcServer> {
  const s = await startWcServer({ ...options, webchannel: { longPollTimeout: 300, ...options.webchannel } }, app => {
    app.webchannel.on('echo', (_ctx, m: unknown) => m)
    app.webchannel.on('many', (ctx, n: number) => { for (let k = 0; k < n; k++) ctx.session.emit('chat.message', chat(k)) })
  }, pre)
  t.teardown(() => s.app.close())
  return s
}

const withCompress = (opts: Record<string, unknown> = {}) => async (app: FastifyInstance) => { await app.register(compress, opts) }

async function sessionWith (s: WcServer, n: number): Promise<string> {
  const hs = await wire(s.origin, HS, null, 'count=0')
  const sid = String((parseFrames(hs.text).chunks[0] as Array<[number, unknown[]]>)[0][1][1])
  for (let k = 0; k < n; k++) s.app.webchannel.toSession(sid).emit('chat.message', chat(k))
  return sid
}

/** Arrays of a single-chunk answer. */
function arraysOf (w: Wire): Array<[number, unknown]> {
  const parsed = parseFrames(w.text)
  return parsed.chunks.flat() as Array<[number, unknown]>
}

const pct = (small: number, big: number) => `${Math.round(100 - (100 * small) / big)} % smaller`

t.test('defaults (global, threshold 1024): a large handshake answer is gzip or br as asked, a small one plain', async t => {
  const s = await server(t, {}, withCompress())
  const body = echoBatch(50)
  const plain = await wire(s.origin, HS, null, body)
  const gz = await wire(s.origin, HS, 'gzip', body)
  const br = await wire(s.origin, HS, 'gzip, deflate, br', body)
  t.equal(plain.encoding, 'identity', 'no Accept-Encoding: plain')
  t.equal(gz.encoding, 'gzip')
  t.equal(br.encoding, 'br', 'compress\'s default order prefers br')
  for (const w of [plain, gz, br]) {
    const arrays = arraysOf(w)
    t.equal(arrays.length, 51, 'c and 50 responses')
    t.same(arrays[50][1], { i: 50, d: chat(49) })
  }
  t.ok(gz.bytes < plain.bytes / 3 && br.bytes < gz.bytes, `gzip ${gz.bytes}, br ${br.bytes} bytes`)
  t.comment(`handshake answering 50 chat messages: ${plain.bytes} B plain, ${gz.bytes} B gzip (${pct(gz.bytes, plain.bytes)}), ${br.bytes} B br (${pct(br.bytes, plain.bytes)})`)

  const small = await wire(s.origin, HS, 'gzip', echoBatch(1))
  t.equal(small.status, 200)
  t.ok(small.bytes < 1024, `a ${small.bytes}-byte answer`)
  t.equal(small.encoding, 'identity', 'below the threshold: plain')
  const sid = String((arraysOf(small)[0][1] as unknown[])[1])
  const fwd = await wire(s.origin, `${P}?VER=8&SID=${sid}&RID=101&AID=0&zx=z&t=1`, 'gzip', 'count=0')
  t.equal(fwd.status, 200)
  t.equal(fwd.encoding, 'identity', 'a forward POST\'s answer is a few bytes: plain')
})

t.test('a long poll of N messages goes through compress: compressed above the threshold, plain below', async t => {
  const s = await server(t, {}, withCompress())
  const results: string[] = []
  for (const n of [10, 100]) {
    const sizes: Record<string, number> = {}
    for (const ae of [null, 'gzip', 'br']) {
      const sid = await sessionWith(s, n)
      const w = await wire(s.origin, poll(sid, 0), ae)
      t.equal(w.encoding, ae ?? 'identity', `${n} messages, Accept-Encoding ${ae}`)
      t.equal(arraysOf(w).length, n)
      t.same(arraysOf(w)[n - 1][1], { a: ['chat.message', chat(n - 1)] })
      sizes[ae ?? 'plain'] = w.bytes
    }
    t.ok(sizes.gzip < sizes.plain / 3)
    results.push(`${n} messages: ${sizes.plain} B plain, ${sizes.gzip} B gzip (${pct(sizes.gzip, sizes.plain)}), ${sizes.br} B br (${pct(sizes.br, sizes.plain)})`)
  }
  t.comment('long-poll answer of ' + results.join('; '))
  const sid = await sessionWith(s, 1)
  const one = await wire(s.origin, poll(sid, 0), 'gzip')
  t.equal(arraysOf(one).length, 1)
  t.equal(one.encoding, 'identity', `one message (${one.bytes} B) is below the threshold: plain, where the plugin alone would gzip it`)
})

t.test('the app\'s settings are honoured: threshold 100, encodings [gzip]', async t => {
  const s = await server(t, {}, withCompress({ threshold: 100, encodings: ['gzip'] }))
  const sid = await sessionWith(s, 1)
  const brOnly = await wire(s.origin, poll(sid, 0), 'br')
  t.equal(brOnly.encoding, 'identity', 'br is not among the app\'s encodings')
  t.equal(arraysOf(brOnly).length, 1)
  const sid2 = await sessionWith(s, 1)
  const gz = await wire(s.origin, poll(sid2, 0), 'gzip, br')
  t.ok(gz.bytes > 0 && gz.encoding === 'gzip', 'one message is above a 100-byte threshold: gzip')
  const hs = await wire(s.origin, HS, 'gzip', echoBatch(1))
  t.ok(hs.text.length > 100 && hs.encoding === 'gzip', `a ${hs.text.length}-byte handshake answer: gzip`)
  t.equal((await wire(s.origin, HS, 'br', echoBatch(1))).encoding, 'identity', 'br asked for: plain')
  const tiny = await wire(s.origin, HS, 'gzip', 'count=0')
  t.ok(tiny.text.length < 100)
  t.equal(tiny.encoding, 'identity', 'a handshake answer under 100 bytes: plain')
})

t.test('global: false: plain unless webchannel.compress gives the routes their options', async t => {
  const off = await server(t, {}, withCompress({ global: false }))
  const sid = await sessionWith(off, 100)
  const lp = await wire(off.origin, poll(sid, 0), 'gzip')
  t.equal(lp.encoding, 'identity', 'the app asked for no compression by default, long polls included')
  t.equal((await wire(off.origin, HS, 'gzip', echoBatch(50))).encoding, 'identity')

  const on = await server(t, { webchannel: { compress: { threshold: 0, encodings: ['gzip'] } } }, withCompress({ global: false }))
  const sid2 = await sessionWith(on, 1)
  t.equal((await wire(on.origin, poll(sid2, 0), 'gzip, br')).encoding, 'gzip', 'route options: threshold 0, gzip only')
  t.equal((await wire(on.origin, HS, 'br, gzip', 'count=0')).encoding, 'gzip')
})

t.test('webchannel.compress: false: the routes opt out; long polls are gzipped by the plugin as without compress', async t => {
  const s = await server(t, { webchannel: { compress: false } }, withCompress({ threshold: 0 }))
  t.equal((await wire(s.origin, HS, 'gzip', echoBatch(50))).encoding, 'identity', 'handshake: plain')
  const sid = await sessionWith(s, 1)
  const lp = await wire(s.origin, poll(sid, 0), 'gzip')
  t.equal(lp.encoding, 'gzip', 'the plugin\'s own gzip, which has no threshold')
  t.equal(arraysOf(lp).length, 1)
})

t.test('without @fastify/compress: long polls gzipped by the plugin (webchannel.gzip), the rest plain', async t => {
  const s = await server(t, {})
  t.equal((await wire(s.origin, HS, 'gzip', echoBatch(50))).encoding, 'identity')
  const sid = await sessionWith(s, 1)
  t.equal((await wire(s.origin, poll(sid, 0), 'gzip')).encoding, 'gzip')
  const s2 = await server(t, { webchannel: { gzip: false } })
  const sid2 = await sessionWith(s2, 1)
  t.equal((await wire(s2.origin, poll(sid2, 0), 'gzip')).encoding, 'identity', 'gzip: false')
})

t.test('@fastify/compress registered after the plugin does not reach its routes (the README says: register it first)', async t => {
  const s = await startWcServer({}, async app => { await app.register(compress, { threshold: 0 }) })
  t.teardown(() => s.app.close())
  t.equal((await wire(s.origin, HS, 'gzip', echoBatch(50))).encoding, 'identity', 'handshake: plain')
  const sid = await sessionWith(s, 1)
  t.equal((await wire(s.origin, poll(sid, 0), 'gzip')).encoding, 'gzip', 'long poll: the plugin\'s own gzip, as without compress')
})

t.test('the streaming back channel is never compress\'s: plain with gzip: false even at threshold 0, and still streaming', async t => {
  const s = await server(t, { webchannel: { gzip: false } }, withCompress({ threshold: 0 }))
  const sid = await sessionWith(s, 0)
  const g = await stream(s.origin, streaming(sid), { headers: { 'accept-encoding': 'gzip, br' } })
  t.equal(g.headers['content-encoding'], undefined)
  await g.until(txt => txt.includes('noop'), 'the first noop while the GET is open')
  s.app.webchannel.toSession(sid).emit('chat.message', chat(1))
  await g.until(txt => txt.includes('stand-up'), 'a message, at once')
  t.notOk(g.ended, 'nothing waited for the end of the response')
  g.destroy()
})

t.test('a gzipped request body is refused, not inflated by compress', async t => {
  const s = await server(t, {}, withCompress())
  const res = await new Promise<number>((resolve, reject) => {
    const body = gzipSync(echoBatch(1))
    const req = http.request({ method: 'POST', host: '127.0.0.1', port: s.port, path: HS, agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip', 'content-length': String(body.length) } }, r => { r.resume(); resolve(r.statusCode ?? 0) })
    req.on('error', reject)
    // A guard, not a measurement: a server that inflated the body and then stalled fails here, not at tap's timeout.
    req.setTimeout(10_000, () => req.destroy(new Error('no answer in 10 s')))
    req.end(body)
  })
  t.equal(res, 400, 'the routes set decompress: false')
  t.equal(s.app.webchannel.sessions.size, 0)
})

for (const forceLongPolling of [false, true]) {
  t.test(`the closure client with compress on (forceLongPolling: ${forceLongPolling}): compressed answers, every message delivered`, async t => {
    const s = await server(t, {}, withCompress())
    const c = openChannel(s.url, { sendRawJson: true, forceLongPolling })
    c.send({ i: 1, a: ['echo', chat(0)] })
    await c.opened()
    c.send({ a: ['many', 60] })
    const msgs = await c.waitForMessages(61)
    t.same(msgs[0], { i: 1, d: chat(0) })
    t.same(msgs.slice(1), Array.from({ length: 60 }, (_, k) => ({ a: ['chat.message', chat(k)] })))
    const mine = xhrLog.filter(r => r.url.startsWith(s.origin))
    const gets = mine.filter(r => r.method === 'GET' && r.url.includes('RID=rpc'))
    if (forceLongPolling) {
      t.ok(gets.some(r => r.responseText.length > 1024 && r.responseHeaders['content-encoding'] === 'br'), 'a long poll above the threshold came compressed (br) and was read')
      t.ok(gets.filter(r => r.responseText.length < 1024 && r.outcome === 'done').every(r => r.responseHeaders['content-encoding'] === undefined), 'small polls plain')
    } else {
      t.equal(gets[0].responseHeaders['content-encoding'], 'gzip', 'the stream: the plugin\'s gzip')
    }
    c.close()
    await c.closed()
  })
}
