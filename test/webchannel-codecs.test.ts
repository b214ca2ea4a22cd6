// Pure WebChannel codecs and protocol state: framing, forward maps, query
// classification, the array queue and the forward ordering. Hostile input
// goes straight at them here; test/webchannel-http.test.ts sends it through the routes.
import t from 'tap'
import { asciiJson, encodeArrays, escapeLineSeparators, frame, frameArrays, parseFrames, toPayload } from '../lib/codecs/webchannel-framing.js'
import { MapsError, mapKey, parseForm, parseForwardBody, parseHeaderBlock, type ForwardMap } from '../lib/codecs/webchannel-maps.js'
import { QueryError, classifyBind } from '../lib/codecs/webchannel-query.js'
import { ArrayQueue } from '../lib/transports/webchannel/array-queue.js'
import { ForwardChannel } from '../lib/transports/webchannel/forward-channel.js'

t.test('frame: the length prefix counts UTF-16 units, as the client slices', async t => {
  const json = '{"t":"héllo € 😀"}'
  t.equal(frame(json), '18\n' + json)
  t.equal(json.length, 18)
  t.not(Buffer.byteLength(json), 18, 'bytes differ: a byte count would stall the client')
  t.equal(frame('[1,1,38]'), '8\n[1,1,38]')
  const parsed = parseFrames(frame(json) + frame('[1]'))
  t.same(parsed, { chunks: [{ t: 'héllo € 😀' }, [1]], rest: '', error: null })
})

t.test('encodeArrays splices payload text without re-stringifying', async t => {
  t.equal(encodeArrays([{ id: 0, payload: '["c","x",null,8,0,3000]' }]), '[[0,["c","x",null,8,0,3000]]]')
  t.equal(encodeArrays([{ id: 5, payload: '{"a":["e"]}' }, { id: 6, payload: '["noop"]' }]), '[[5,{"a":["e"]}],[6,["noop"]]]')
  t.equal(frameArrays([{ id: 1, payload: '["noop"]' }]), '14\n[[1,["noop"]]]')
  t.equal(encodeArrays([]), '[]')
})

t.test('line separators are escaped; asciiJson escapes everything above 0x7E', async t => {
  const raw = JSON.stringify({ s: 'a\u2028b\u2029c' })
  const esc = escapeLineSeparators(raw)
  t.notMatch(esc, /[\u2028\u2029]/)
  t.same(JSON.parse(esc), { s: 'a\u2028b\u2029c' })
  const a = asciiJson(JSON.stringify({ s: 'é😀\u007f' }))
  t.match(a, /^[\x20-\x7e]*$/)
  t.same(JSON.parse(a), { s: 'é😀\u007f' })
  t.equal(asciiJson('{"plain":1}'), '{"plain":1}')
})

t.test('toPayload: JSON passes, anything else becomes a JSON string', async t => {
  t.equal(toPayload('{"a":["x"]}'), '{"a":["x"]}')
  t.equal(toPayload('[1,2]'), '[1,2]')
  t.equal(toPayload('42'), '42')
  t.equal(toPayload('hello'), '"hello"')
  t.equal(toPayload('{broken'), '"{broken"')
  t.equal(toPayload(''), '""')
  t.equal(toPayload('"\u2028"'), '"\\u2028"')
})

t.test('parseFrames reports partial chunks and bad data', async t => {
  t.same(parseFrames('5\n[1,2'), { chunks: [], rest: '5\n[1,2', error: null })
  t.equal(parseFrames('x\n[]').error, 'bad length prefix "x"')
  t.equal(parseFrames('2\n[}').error, 'chunk is not JSON')
})

t.test('forward maps: count, ofs, map ids, __data__, _badmap', async t => {
  const b = parseForwardBody('count=3&ofs=7&req0_hello=world&req0_n=1&req1___data__=%7B%22a%22%3A%5B%22e%22%5D%7D&req2_type=_badmap')
  t.equal(b.count, 3)
  t.equal(b.ofs, 7)
  t.equal(b.maps.length, 3)
  t.same(b.maps[0], { id: 7, kind: 'map', data: { hello: 'world', n: '1' } })
  t.same(b.maps[1], { id: 8, kind: 'data', data: '{"a":["e"]}' })
  t.same(b.maps[2], { id: 9, kind: 'bad' })
  t.same(parseForwardBody('count=0'), { count: 0, ofs: 0, maps: [], headers: null })
  t.same(parseForwardBody(''), { count: 0, ofs: 0, maps: [], headers: null })
  // A map that had no keys (send({})) still takes its id.
  t.same(parseForwardBody('count=1&ofs=0').maps, [{ id: 0, kind: 'map', data: {} }])
  const h = parseForwardBody('headers=X-Init%3Ai1%0D%0AAuthorization%3ABearer%20t%0D%0A&count=0')
  t.equal(h.headers, 'X-Init:i1\r\nAuthorization:Bearer t\r\n')
  // UTF-8 text, including astral characters, decodes intact.
  t.same(parseForwardBody('count=1&ofs=0&req0_t=h%C3%A9llo%20%F0%9F%98%80').maps[0], { id: 0, kind: 'map', data: { t: 'héllo 😀' } })
})

t.test('forward maps: __data__ fields read in place agree with the general grammar', async t => {
  const data = (body: string) => parseForwardBody(body).maps
  const json = encodeURIComponent('{"a":["e"]}')
  t.same(data(`count=11&ofs=0&req10___data__=${json}`)[10], { id: 10, kind: 'data', data: '{"a":["e"]}' })
  // A percent-encoded name decodes to the same field.
  t.same(data(`count=1&ofs=0&req%30___data__=${json}`)[0], { id: 0, kind: 'data', data: '{"a":["e"]}' })
  // Lookalikes are other keys of a plain map, not __data__.
  t.same(data('count=1&ofs=0&req0___data__x=1')[0], { id: 0, kind: 'map', data: { __data__x: '1' } })
  t.same(data('count=1&ofs=0&req0____data__=1')[0], { id: 0, kind: 'map', data: { ___data__: '1' } })
  t.same(data('count=1&ofs=0&req0___data__')[0], { id: 0, kind: 'data', data: '' })
  // __data__ wins over other keys of the same map, in either order.
  t.same(data(`count=1&ofs=0&req0_x=1&req0___data__=${json}`)[0], { id: 0, kind: 'data', data: '{"a":["e"]}' })
  for (const body of [
    `count=2&ofs=0&req01___data__=${json}`, // leading zero
    `count=1&ofs=0&req1___data__=${json}`, // beyond count
    `count=1&ofs=0&req0___data__=${json}&req0___data__=${json}`, // duplicate
    `count=1&ofs=0&req0___data__=${json}&req%30___data__=${json}`, // duplicate, spelled differently
    `count=1&ofs=0&reqx___data__=${json}`,
    `count=99999&ofs=0&req99999___data__=${json}`,
  ]) t.throws(() => parseForwardBody(body), MapsError, body)
})

t.test('forward maps: hostile bodies are refused with MapsError', async t => {
  const bad = [
    'count=1001&ofs=0',
    'count=-1',
    'count=1.5&ofs=0',
    'count=01&ofs=0',
    'count=1',
    'count=1&ofs=-3&req0_a=b',
    'count=1&ofs=99999999999999999&req0_a=b',
    'count=1&ofs=0&req1_a=b',
    'count=1&ofs=0&req0_a=b&req0_a=c',
    'count=1&count=1&ofs=0',
    'count=1&ofs=0&evil=1',
    'count=1&ofs=0&req0_a=%E0%A4%A',
    'ofs=0&req0_a=b',
    'count=2&ofs=0&req00_a=b',
    'count=1&ofs=0&req0_=b',
  ]
  for (const body of bad) t.throws(() => parseForwardBody(body), MapsError, body)
  // Prototype keys stay plain data.
  const m = parseForwardBody('count=1&ofs=0&req0___proto__=x&req0_constructor=y').maps[0]
  t.equal(m.kind, 'map')
  if (m.kind === 'map') {
    t.equal(Object.getPrototypeOf(m.data), null)
    t.equal(Object.getOwnPropertyDescriptor(m.data, '__' + 'proto__')?.value, 'x')
  }
  t.equal(({} as Record<string, unknown>).x, undefined)
})

t.test('parseForm: + is a space, empty pairs are skipped', async t => {
  t.same([...parseForm('a=1+2&&b=&c')], [['a', '1 2'], ['b', ''], ['c', '']])
})

t.test('header blocks: allow-listed, lower-cased, no smuggling', async t => {
  t.same(parseHeaderBlock('X-Init:i1\r\nAuthorization:Bearer t\r\n', ['authorization']), { authorization: 'Bearer t' })
  t.same({ ...parseHeaderBlock('Authorization: a\nCookie: c\n', ['authorization', 'x-init']) }, { authorization: 'a' })
  t.throws(() => parseHeaderBlock('Bad Name:x', ['bad name']), MapsError)
  t.throws(() => parseHeaderBlock('novalue', ['novalue']), MapsError)
  t.throws(() => parseHeaderBlock('A:b\u0000c', ['a']), MapsError)
  t.throws(() => parseHeaderBlock('x'.repeat(20000), []), MapsError)
})

t.test('classifyBind: each request kind, and the bad combinations', async t => {
  t.same(classifyBind('POST', { VER: '8', RID: '123', CVER: '22' }), { kind: 'handshake', rid: 123, sessionIdParam: null, oldSid: null, oldAid: null })
  t.same(classifyBind('POST', { VER: '8', RID: '1', 'X-HTTP-Session-Id': 'gsessionid' }).kind, 'handshake')
  t.same(classifyBind('GET', { VER: '8', RID: '1', SID: 'null', $req: 'count=0' }), { kind: 'fast-handshake', rid: 1, body: 'count=0', sessionIdParam: null })
  t.same(classifyBind('GET', { VER: '8', RID: 'rpc', SID: 's', AID: '3', CI: '0', TYPE: 'xmlhttp' }), { kind: 'back-channel', sid: 's', aid: 3, streaming: true, timeout: null })
  t.same(classifyBind('GET', { VER: '8', RID: 'rpc', SID: 's', CI: '1', TYPE: 'xmlhttp', TO: '5000' }), { kind: 'back-channel', sid: 's', aid: null, streaming: false, timeout: 5000 })
  t.same(classifyBind('POST', { VER: '8', RID: '5', SID: 's', AID: '0' }), { kind: 'forward', sid: 's', rid: 5, aid: 0 })
  t.same(classifyBind('POST', { VER: '8', RID: '5', SID: 's', TYPE: 'terminate' }), { kind: 'terminate', sid: 's' })
  t.same(classifyBind('GET', { VER: '8', RID: '5', SID: 's', TYPE: 'terminate' }), { kind: 'terminate', sid: 's' })
  const bad: Array<[string, Record<string, string>]> = [
    ['POST', { VER: '7', RID: '1' }],
    ['POST', { RID: '1' }],
    ['POST', { VER: '8' }],
    ['POST', { VER: '8', RID: 'abc' }],
    ['GET', { VER: '8', RID: 'rpc', SID: 's', CI: '2', TYPE: 'xmlhttp' }],
    ['GET', { VER: '8', RID: 'rpc', SID: 's', CI: '0', TYPE: 'html' }],
    ['GET', { VER: '8', RID: '3', SID: 's', CI: '0', TYPE: 'xmlhttp' }],
    ['GET', { VER: '8', RID: 'rpc', SID: 's', CI: '0' }],
    ['GET', { VER: '8', RID: 'rpc' }],
    ['POST', { VER: '8', RID: '1', SID: 's', AID: '-5' }],
    ['POST', { VER: '8', RID: '1', SID: 's', TYPE: 'xmlhttp' }],
    ['POST', { VER: '8', RID: '1', 'X-HTTP-Session-Id': 'SID' }],
    ['POST', { VER: '8', RID: '1', 'X-HTTP-Session-Id': 'a b' }],
    ['POST', { VER: '8', RID: '1', TYPE: 'init' }],
    ['GET', { VER: '8', RID: 'rpc', SID: 's', CI: '1', TYPE: 'xmlhttp', TO: '0' }],
  ]
  for (const [m, q] of bad) t.throws(() => classifyBind(m, q), QueryError, `${m} ${JSON.stringify(q)}`)
})

t.test('ArrayQueue: consecutive ids, acks free, resend above AID', async t => {
  const q = new ArrayQueue()
  t.equal(q.lastId, -1)
  t.equal(q.push('["c"]'), 0)
  t.equal(q.push('"a"'), 1)
  t.equal(q.push('"bb"'), 2)
  t.equal(q.size, 5 + 3 + 4)
  t.same(q.after(0).map(a => a.id), [1, 2])
  q.ack(1)
  t.equal(q.length, 1)
  t.equal(q.size, 4)
  t.same(q.after(-1).map(a => a.id), [2], 'acked arrays are never resent')
  t.equal(q.sizeThrough(2), 4)
  q.ack(99)
  t.equal(q.length, 0)
  t.equal(q.push('"x"'), 3, 'ids are never reused')
  // Many acks stay cheap and correct across compaction.
  for (let i = 0; i < 5000; i++) q.push('1')
  q.ack(4000)
  t.equal(q.after(-1)[0].id, 4001)
  t.equal(q.length, 5003 - 4000)
  q.setPayload(4001, '22')
  t.equal(q.after(4000)[0].payload, '22')
})

function maps (ids: number[]): ForwardMap[] {
  return ids.map(id => ({ id, kind: 'data' as const, data: String(id) }))
}

t.test('ForwardChannel: exactly once, in order, retry after a refusal', async t => {
  const seen: string[] = []
  let refuse = '2'
  const fc = new ForwardChannel(async (m) => {
    if (m.kind !== 'data') return
    if (m.data === refuse) { refuse = ''; throw new Error('app refused') }
    seen.push(m.data)
  }, 200, 100)
  t.equal(await fc.submit(maps([0, 1])), 'accepted')
  t.equal(await fc.submit(maps([0, 1])), 'accepted', 'a retried POST is acknowledged again')
  t.equal(await fc.submit(maps([2, 3])), 'retry', 'map 2 refused: the POST must be retried')
  t.same(seen, ['0', '1'])
  t.equal(fc.delivered, 2)
  t.equal(await fc.submit(maps([2, 3, 4])), 'accepted', 'the retry (with a map appended) delivers')
  t.same(seen, ['0', '1', '2', '3', '4'], 'nothing delivered twice, nothing skipped')
})

t.test('ForwardChannel: out-of-order POSTs are reordered by map id; gaps time out', async t => {
  const seen: string[] = []
  const fc = new ForwardChannel(async (m) => { if (m.kind === 'data') seen.push(m.data) }, 300, 100)
  const later = fc.submit(maps([2, 3]))
  await new Promise(resolve => setImmediate(resolve))
  t.same(seen, [], 'waits for the earlier maps')
  t.equal(await fc.submit(maps([0, 1])), 'accepted')
  t.equal(await later, 'accepted')
  t.same(seen, ['0', '1', '2', '3'])
  const t0 = Date.now()
  t.equal(await fc.submit(maps([9])), 'retry', 'a gap that never fills')
  t.ok(Date.now() - t0 >= 250)
  t.equal(await fc.submit(maps([4])), 'accepted')
  t.same(seen, ['0', '1', '2', '3', '4'])
})

t.test('ForwardChannel: bad maps take their id; dispose fails waiters', async t => {
  const seen: unknown[] = []
  let release: () => void = () => {}
  const fc = new ForwardChannel(async (m) => {
    if (m.kind === 'map' && m.data.wait === '1') await new Promise<void>(resolve => { release = resolve })
    seen.push(m.kind)
  }, 1000, 100)
  t.equal(await fc.submit([{ id: 0, kind: 'bad' }, { id: 1, kind: 'map', data: { a: 'b' } }]), 'accepted')
  t.same(seen, ['map'])
  const p = fc.submit([{ id: 2, kind: 'map', data: { wait: '1' } }])
  await new Promise(resolve => setImmediate(resolve))
  fc.dispose()
  t.equal(await p, 'retry')
  release()
  t.equal(await fc.submit(maps([3])), 'retry', 'nothing is accepted after dispose')
})

t.test('mapKey: the field-name scanner agrees with the grammar req(0|[1-9] digits{0,3})_name', async t => {
  const grammar = /^req(0|[1-9]\d{0,3})_(.+)$/s
  const expected = (s: string) => {
    const m = grammar.exec(s)
    return m === null ? null : { index: Number(m[1]), name: m[2] }
  }
  const fixed = ['req0___data__', 'req1_a', 'req999_x', 'req9999_k\nv', 'req10000_z', 'req01_a', 'req0_', 'req_a', 'reqa_b', 'req0a_b', 'xreq0_a', 'req1_ü']
  for (const s of fixed) t.same(mapKey(s), expected(s), JSON.stringify(s))
  // Random names over the grammar's alphabet, seeded for repeatability.
  let seed = 42
  const rnd = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff }
  const alphabet = 'req0123456789_a'
  let mismatches = 0
  for (let n = 0; n < 20000; n++) {
    let s = rnd() < 0.7 ? 'req' : ''
    const len = Math.floor(rnd() * 8)
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(rnd() * alphabet.length)]
    if (JSON.stringify(mapKey(s)) !== JSON.stringify(expected(s))) mismatches++
  }
  t.equal(mismatches, 0)
})
