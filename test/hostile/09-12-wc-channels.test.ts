// Cases 9-12: out-of-order forward POSTs, AIDs ahead of or behind what was
// sent, concurrent back channels, and back channels nobody reads.
import http from 'node:http'
import net from 'node:net'
import t from 'tap'
import { parseFrames } from '../../lib/codecs/webchannel-framing.js'
import { bc, fwd, hostileServer, maps, P, wcServes } from '../helpers/hostile.js'
import { handshake, request, stream, type RawResponse } from '../helpers/wc-raw.js'

const arraysOf = (body: string) => (parseFrames(body).chunks.flat() as Array<[number, unknown]>)

/** A request that must be answered within `ms`: rejects otherwise (a held GET is a failure here). */
function answeredWithin (origin: string, path: string, ms: number, body?: string): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, origin)
    const req = http.request({ method: body === undefined ? 'GET' : 'POST', host: u.hostname, port: u.port, path: u.pathname + u.search, agent: false, headers: body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' } }, res => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }) })
    })
    const timer = setTimeout(() => { req.destroy(); reject(new Error(`not answered within ${ms} ms`)) }, ms)
    req.on('error', err => { clearTimeout(timer); reject(err) })
    req.end(body)
  })
}

t.test('case 9: out-of-order POSTs past the reorder bound (count or bytes) are refused with 400 at once, never held', async t => {
  const h = await hostileServer(t, { webchannel: { maxBodySize: 1024 * 1024 } })
  const { sid } = await handshake(h.origin)
  // Ten POSTs of ~900 KB each for map ids 1..10, map 0 held back: 4 MiB of reorder buffer holds two.
  const big = 'x'.repeat(900 * 1024)
  const started = Date.now()
  const posts = Array.from({ length: 10 }, (_, i) => request(h.origin, fwd(sid, 102 + i), { body: maps(i + 1, { a: ['n', big] }) }).then(r => ({ ...r, at: Date.now() - started })))
  const refused = await Promise.race([Promise.all(posts), new Promise<null>(resolve => setTimeout(() => resolve(null), 2000))])
  t.equal(refused, null, 'the POSTs that fit are still held for the gap')
  await request(h.origin, fwd(sid, 101), { body: maps(0, { a: ['n', 'first'] }) })
  const all = await Promise.all(posts)
  const overflow = all.filter(r => r.status === 400)
  t.ok(overflow.length >= 7, `${overflow.length} of 10 refused with 400`)
  t.ok(overflow.every(r => r.at < 1000), 'refused at once, not after the gap timeout')
  t.equal(h.got.length, 1 + all.filter(r => r.status === 200).length, 'what was acknowledged was delivered')
  await wcServes(t, h.origin)
})

t.test('case 10: a back-channel GET with AID beyond the last sent array id is 400 and changes nothing', async t => {
  const h = await hostileServer(t)
  const { sid } = await handshake(h.origin)
  h.s.app.webchannel.toSession(sid).emit('m', 1)
  const ahead = await answeredWithin(h.origin, bc(sid, 50, 1), 3000).catch((e: Error) => ({ status: 0, body: e.message }))
  t.equal(ahead.status, 400, ahead.body)
  const g = await answeredWithin(h.origin, bc(sid, 0, 1), 3000)
  t.same(arraysOf(g.body).map(a => a[1]), [{ a: ['m', 1] }], 'array 1 was not acknowledged by the refused GET')
  await wcServes(t, h.origin)
})

t.test('case 10: a forward POST with AID beyond the last sent array id is 400 and changes nothing', async t => {
  const h = await hostileServer(t)
  const { sid } = await handshake(h.origin)
  h.s.app.webchannel.toSession(sid).emit('m', 1)
  const res = await answeredWithin(h.origin, fwd(sid, 101, 99), 3000, maps(0, { a: ['n', 'x'] }))
  t.equal(res.status, 400)
  t.same(h.got, [], 'its maps were not delivered')
  const g = await answeredWithin(h.origin, bc(sid, 0, 1), 3000)
  t.same(arraysOf(g.body).map(a => a[1]), [{ a: ['m', 1] }], 'array 1 is still unacknowledged')
})

t.test('case 10: AID backwards on a new back channel retransmits from AID+1; nothing is dropped without an ACK', async t => {
  const h = await hostileServer(t)
  const { sid } = await handshake(h.origin)
  for (let i = 1; i <= 4; i++) h.s.app.webchannel.toSession(sid).emit('m', i)
  const g1 = await request(h.origin, bc(sid, 0, 1))
  t.same(arraysOf(g1.body).map(a => a[0]), [1, 2, 3, 4])
  // The client only got array 2 (the response was cut): a new GET with AID=2.
  const g2 = await request(h.origin, bc(sid, 2, 1))
  t.same(arraysOf(g2.body).map(a => a[0]), [3, 4], 'resent from AID+1')
  const g3 = await request(h.origin, bc(sid, 0, 1))
  t.same(arraysOf(g3.body).map(a => a[0]), [3, 4], 'an AID below what was already acknowledged resends nothing freed, drops nothing unacknowledged')
  await wcServes(t, h.origin)
})

t.test('case 11: two concurrent back channels: the newest wins, the older ends cleanly; no message is sent twice', async t => {
  const h = await hostileServer(t)
  const { sid } = await handshake(h.origin)
  const g1 = await stream(h.origin, bc(sid, 0, 0))
  await g1.until(txt => txt.includes('noop'), 'the first GET\'s noop')
  const g2 = await stream(h.origin, bc(sid, 1, 0))
  await g1.end()
  t.ok(g1.ended, 'the older GET ended')
  t.equal(parseFrames(g1.text).error, null, 'with whole chunks only')
  for (let i = 0; i < 5; i++) h.s.app.webchannel.toSession(sid).emit('m', i)
  await g2.until(() => g2.arrays().filter(a => JSON.stringify(a[1]).includes('"m"')).length === 5, 'five messages on the newest GET')
  const ids = [...g1.arrays(), ...g2.arrays()].map(a => a[0])
  t.same(ids, [...new Set(ids)], 'no array id written twice')
  t.notOk(g1.text.includes('"m"'), 'nothing went to the replaced GET')
  g2.destroy()
  await wcServes(t, h.origin)
})

t.test('case 12: a back channel nobody reads hits the outgoing cap: stop, session freed', async t => {
  const h = await hostileServer(t, { webchannel: { maxPendingBytes: 256 * 1024 } })
  const { sid } = await handshake(h.origin)
  // A raw client that opens the streaming GET and never reads.
  const socket = net.connect(h.s.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.write(`GET ${bc(sid, 0, 0)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
  socket.pause()
  const payload = 'y'.repeat(8 * 1024)
  let refusedAt = -1
  for (let i = 0; i < 200 && refusedAt === -1; i++) {
    if (h.s.app.webchannel.toSession(sid).emit('m', payload) === 0) refusedAt = i
  }
  t.ok(refusedAt > 0 && refusedAt < 200, `sends refused once the cap is reached (after ${refusedAt})`)
  const end = await h.whenEnded(e => e.session.id === sid)
  t.equal(end.reason, 'error', 'the session is stopped')
  t.equal(h.s.app.webchannel.sessions.size, 0, 'and freed')
  await wcServes(t, h.origin)
})

t.test('case 12: timers stay under the client and proxy limits: keepalive 30 s (< 45 s watchdog), long polls answered within TO and under 30 s', async t => {
  const h = await hostileServer(t, { webchannel: { keepaliveInterval: undefined, longPollTimeout: undefined } })
  const { sid, arrays } = await handshake(h.origin)
  const c = arrays[0][1] as unknown[]
  t.equal(c[5], 30_000, 'c[5]: the client\'s watchdog becomes 45 s; noops come every 30 s')
  const t0 = Date.now()
  const g = await answeredWithin(h.origin, bc(sid, 0, 1, '&TO=200'), 5000)
  t.ok(Date.now() - t0 < 1500, `a CI=1 poll with TO=200 is answered in ${Date.now() - t0} ms`)
  t.same(arraysOf(g.body).map(a => a[1]), [['noop']], 'with a noop, never an empty 200')
})

t.test('case 12: a streaming back channel is recycled (ended, client reopens) at backChannelMaxAge', async t => {
  const h = await hostileServer(t, { webchannel: { backChannelMaxAge: 300 } })
  const { sid } = await handshake(h.origin)
  const t0 = Date.now()
  const g = await stream(h.origin, bc(sid, 0, 0))
  await g.end(5000)
  t.ok(g.ended, `ended after ${Date.now() - t0} ms`)
  t.equal(parseFrames(g.text).error, null)
  await wcServes(t, h.origin)
})

t.test('the sticky-routing header names the session (case 31 affinity): X-HTTP-Session-Id', async t => {
  const h = await hostileServer(t)
  const res = await request(h.origin, `${P}?VER=8&RID=1&CVER=22&X-HTTP-Session-Id=gsessionid`, { body: 'count=0' })
  t.equal(res.status, 200)
  t.ok(res.headers['x-http-session-id'], 'the handshake answers with X-HTTP-Session-Id')
})
