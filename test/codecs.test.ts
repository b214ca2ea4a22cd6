import t from 'tap'
import * as wsModule from 'ws'
import { decodeEnvelope, encodeEvent, encodeReject, encodeRequest, encodeResolve, parseEnvelope } from '../lib/codecs/envelope.js'
import { encodeBinaryFrame, encodeTextFrame } from '../lib/codecs/ws-frame.js'

// ws's frame parser, as its client uses it.
const Receiver = (wsModule as unknown as { Receiver: new (o: object) => NodeJS.EventEmitter & { write (b: Buffer): void } }).Receiver

t.test('envelope: the four ws-wrapper shapes', async t => {
  t.same(parseEnvelope('{"a":["ev",1,"x"]}'), { kind: 'event', channel: null, name: 'ev', args: [1, 'x'] })
  t.same(parseEnvelope('{"c":"room","a":["ev"]}'), { kind: 'event', channel: 'room', name: 'ev', args: [] })
  t.same(parseEnvelope('{"i":3,"a":["rq",{}]}'), { kind: 'request', channel: null, name: 'rq', args: [{}], id: 3 })
  t.same(parseEnvelope('{"i":3,"d":null}'), { kind: 'resolve', id: 3, data: null })
  t.same(parseEnvelope('{"i":3}'), { kind: 'resolve', id: 3, data: undefined })
  t.same(parseEnvelope('{"i":4,"e":{"message":"m"},"_":1}'), { kind: 'reject', id: 4, error: { message: 'm' } })
})

t.test('envelope: hostile or foreign input is ignored, never thrown', async t => {
  for (const text of ['', 'null', '[]', '"s"', '42', '{', '{"a":[]}', '{"a":[1]}', '{"a":"ev"}', '{"c":5,"a":["x"]}',
    '{"a":["x"],"ws-wrapper":false}', '{"d":1}', '{"i":"1","d":1}', '{"i":0,"d":1}', '{"__proto__":{"a":["x"]}}']) {
    t.same(parseEnvelope(text), { kind: 'ignored' }, JSON.stringify(text))
  }
  t.same(parseEnvelope('{"i":-2,"a":["x"]}'), { kind: 'bad-request', channel: null, name: 'x', id: -2 })
  t.same(parseEnvelope('{"i":1.5,"a":["x"]}').kind, 'bad-request')
  t.same(decodeEnvelope({ a: ['x', 1] }), { kind: 'event', channel: null, name: 'x', args: [1] })
})

t.test('text frames carry multi-byte UTF-8 with its byte length', async t => {
  const text = 'héllo € 😀'.repeat(20)
  const frame = encodeTextFrame(text)
  const got = await new Promise<Buffer>((resolve, reject) => {
    const r = new Receiver({ isServer: false, maxPayload: 0 })
    r.on('message', (data: Buffer) => resolve(data))
    r.on('error', reject)
    r.write(frame)
  })
  t.equal(got.toString(), text)
})

t.test('envelope: encoders round-trip', async t => {
  t.same(JSON.parse(encodeEvent('c1', 'e', [1, { x: 'é😀' }])), { c: 'c1', a: ['e', 1, { x: 'é😀' }] })
  t.same(JSON.parse(encodeEvent(null, 'e', [])), { a: ['e'] })
  t.same(JSON.parse(encodeRequest(null, 'q', [2], 9)), { i: 9, a: ['q', 2] })
  t.same(JSON.parse(encodeResolve(9, [1])), { i: 9, d: [1] })
  t.equal(encodeResolve(3, undefined), '{"i":3}', 'no value: no "d", as JSON.stringify({ i, d: undefined })')
  t.equal(encodeResolve(4, null), '{"i":4,"d":null}')
  t.equal(encodeResolve(5, new Date(0)), '{"i":5,"d":"1970-01-01T00:00:00.000Z"}')
  t.equal(encodeResolve(6, 'é\u2028'), JSON.stringify({ i: 6, d: 'é\u2028' }))
  t.same(JSON.parse(encodeReject(9, { message: 'm', code: 'C' })), { i: 9, e: { message: 'm', code: 'C' }, _: 1 })
})

t.test('prepared frames parse with ws\'s own receiver at every length boundary', async t => {
  for (const len of [0, 1, 125, 126, 127, 65535, 65536, 70000]) {
    for (const binary of [false, true]) {
      const payload = Buffer.alloc(len, binary ? 7 : 0x61)
      const frame = binary ? encodeBinaryFrame(payload) : encodeTextFrame(payload.toString())
      const got = await new Promise<[Buffer, boolean]>((resolve, reject) => {
        const r = new Receiver({ isServer: false, maxPayload: 0 })
        r.on('message', (data: Buffer, isBinary: boolean) => resolve([data, isBinary]))
        r.on('error', reject)
        r.write(frame)
      })
      t.equal(got[0].length, len)
      t.ok(got[0].equals(payload))
      t.equal(got[1], binary)
    }
  }
})
