// Cases 6-8: another user's SID, SIDs reused after their session ended,
// replayed forward POSTs. Raw HTTP on 127.0.0.1.
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { parseFrames } from '../../lib/codecs/webchannel-framing.js'
import { bc, fwd, hostileServer, maps, P, wcServes } from '../helpers/hostile.js'
import { handshake, request } from '../helpers/wc-raw.js'

/** Principal from the X-User header (an app's auth hook, simplified). */
const auth = (app: FastifyInstance) => {
  app.addHook('onRequest', async (request) => {
    const user = request.headers['x-user']
    if (typeof user === 'string') (request as unknown as { user: unknown }).user = { id: user }
  })
}
const alice = { 'x-user': 'alice' }
const bob = { 'x-user': 'bob' }
const arraysOf = (body: string) => (parseFrames(body).chunks.flat() as Array<[number, unknown]>)

t.test('case 6: a hijacked SID gets exactly the unknown-SID answer (400, safer than 403: no oracle that the SID exists); the queue never leaks', async t => {
  const h = await hostileServer(t, {}, undefined, auth)
  const { sid } = await handshake(h.origin, P, 'count=0', alice)
  h.s.app.webchannel.toSession(sid).emit('secret', 'for alice')
  const unknown = await request(h.origin, bc('AAAAAAAAAAAAAAAAAAAAAA', 0, 1), { headers: bob })
  for (const headers of [bob, {}]) {
    const g = await request(h.origin, bc(sid, 0, 1), { headers })
    t.equal(g.status, 400)
    t.equal(g.body, unknown.body, 'same body as an unknown SID')
    t.notMatch(g.body, /secret/, 'nothing of the queue')
    const f = await request(h.origin, fwd(sid, 101), { body: maps(0, { a: ['n', 'forged'] }), headers })
    t.equal(f.status, 400)
    t.equal(f.body, unknown.body)
  }
  t.same(h.got, [], 'nothing delivered for the foreign caller')
  const mine = await request(h.origin, bc(sid, 0, 1), { headers: alice })
  t.same(arraysOf(mine.body).map(a => a[1]), [{ a: ['secret', 'for alice'] }], 'the owner still gets the message')
  await wcServes(t, h.origin, alice)
})

t.test('case 6: SIDs are 128-bit CSPRNG values: 22 base64url characters, all distinct', async t => {
  const h = await hostileServer(t)
  const sids = new Set<string>()
  for (let i = 0; i < 200; i++) {
    const { sid } = await handshake(h.origin)
    t.match(sid, /^[A-Za-z0-9_-]{22}$/)
    sids.add(sid)
    await request(h.origin, `${P}?VER=8&SID=${sid}&RID=101&TYPE=terminate`)
  }
  t.equal(sids.size, 200, 'no SID repeats')
  // 16 random bytes: every base64url position varies.
  const firstChars = new Set([...sids].map(s => s[0]))
  t.ok(firstChars.size > 20, `first characters spread (${firstChars.size} distinct)`)
})

t.test('case 7: a SID reused after terminate or expiry is 400 Unknown SID; sessions are never revived (no LookupSession hook: safer)', async t => {
  const h = await hostileServer(t, { webchannel: { sessionTimeout: 150 } })
  const a = await handshake(h.origin)
  t.equal((await request(h.origin, `${P}?VER=8&SID=${a.sid}&RID=101&TYPE=terminate`)).status, 200)
  for (const res of [await request(h.origin, bc(a.sid, 0, 1)), await request(h.origin, fwd(a.sid, 102), { body: maps(0, { a: ['n', 1] }) })]) {
    t.equal(res.status, 400)
    t.ok(res.body.indexOf('Unknown SID') > 0)
  }
  const b = await handshake(h.origin)
  t.equal((await h.whenEnded(e => e.session.id === b.sid)).reason, 'timeout', 'expired')
  const late = await request(h.origin, bc(b.sid, 0, 1))
  t.equal(late.status, 400)
  t.ok(late.body.indexOf('Unknown SID') > 0)
  t.same(h.got, [])
  await wcServes(t, h.origin)
})

t.test('case 7: OSID evicts only the same principal\'s session', async t => {
  const h = await hostileServer(t, {}, undefined, auth)
  const a = await handshake(h.origin, P, 'count=0', alice)
  const res = await request(h.origin, `${P}/bind?VER=8&RID=5&CVER=8&OSID=${a.sid}&OAID=0`, { body: 'count=0', headers: bob })
  t.equal(res.status, 200, 'bob gets his own session')
  t.ok(h.s.app.webchannel.session(a.sid), 'alice\'s session survives bob\'s OSID')
  t.same(h.ended, [])
  const again = await request(h.origin, `${P}/bind?VER=8&RID=6&CVER=8&OSID=${a.sid}&OAID=0`, { body: 'count=0', headers: alice })
  t.equal(again.status, 200)
  t.equal(h.s.app.webchannel.session(a.sid), undefined, 'alice\'s own OSID closes it')
  await wcServes(t, h.origin, alice)
})

t.test('case 8: a replayed forward POST (same RID, same maps) gets 200 with the same status and is delivered once', async t => {
  const h = await hostileServer(t)
  const { sid } = await handshake(h.origin)
  const body = maps(0, { a: ['n', 'once'] }, { a: ['n', 'twice?'] })
  const first = await request(h.origin, fwd(sid, 101), { body })
  const replays = []
  for (let i = 0; i < 5; i++) replays.push(await request(h.origin, fwd(sid, 101), { body }))
  t.equal(first.status, 200)
  t.match(first.body, /^\d+\n\[[01],\d+,\d+\]$/, 'a framed 3-element status')
  for (const r of replays) {
    t.equal(r.status, 200)
    t.equal(r.body, first.body, 'the same status for the replay')
  }
  // A retry rebased lower (ofs-1) with one new map appended: only the new one is delivered.
  const rebased = await request(h.origin, fwd(sid, 102), { body: maps(1, { a: ['n', 'twice?'] }, { a: ['n', 'new'] }) })
  t.equal(rebased.status, 200)
  t.same(h.got, ['once', 'twice?', 'new'], 'each map reached the handler exactly once')
  await wcServes(t, h.origin)
})
