// Fuzz: server-to-client WebSocket frames. Decoded by RFC 6455 §5.2 (and by
// ws's own Receiver), every frame carries exactly the UTF-8 of its text or the
// bytes of its payload, with the shortest length encoding.
import fc from 'fast-check'
import t from 'tap'
import { createRequire } from 'node:module'
import type { Writable } from 'node:stream'
import { encodeBinaryFrame, encodeTextFrame } from '../../lib/codecs/ws-frame.js'
import { anyText, property } from '../helpers/fuzz.js'

// ws's frame parser (exported by ws, untyped in @types/ws).
const { Receiver } = createRequire(import.meta.url)('ws') as { Receiver: new (options: { isServer: boolean, skipUTF8Validation: boolean }) => Writable }

/** One unmasked frame → FIN, opcode, payload; null when the header is wrong or not minimal. */
function decode (frame: Buffer): { fin: boolean, opcode: number, payload: Buffer } | null {
  if (frame.length < 2 || (frame[1] & 0x80) !== 0) return null
  let len = frame[1] & 0x7f
  let offset = 2
  if (len === 126) {
    len = frame.readUInt16BE(2)
    if (len < 126) return null
    offset = 4
  } else if (len === 127) {
    len = frame.readUInt32BE(2) * 2 ** 32 + frame.readUInt32BE(6)
    if (len < 65536) return null
    offset = 10
  }
  if (offset + len !== frame.length) return null
  return { fin: (frame[0] & 0x80) !== 0, opcode: frame[0] & 0x0f, payload: frame.subarray(offset) }
}

/** Sizes around the 7-bit, 16-bit and 64-bit length boundaries. */
const size = fc.oneof(fc.nat({ max: 300 }), fc.integer({ min: 65_500, max: 65_600 }), fc.constantFrom(125, 126, 127, 65_535, 65_536, 70_000))

t.test('text frames carry the UTF-8 of the text, astral characters and U+2028 included', async t => {
  property(t, 'any text', fc.property(anyText(200), text => {
    const f = decode(encodeTextFrame(text))
    return f !== null && f.fin && f.opcode === 1 && f.payload.equals(Buffer.from(text, 'utf8'))
  }), 600)
  property(t, 'lengths across the length-encoding boundaries', fc.property(size, fc.constantFrom('a', 'é', '€', '😀', '\u2028'), (n, unit) => {
    const text = unit.repeat(Math.ceil(n / Buffer.byteLength(unit)))
    const f = decode(encodeTextFrame(text))
    return f !== null && f.payload.length === Buffer.byteLength(text) && f.payload.toString('utf8') === text
  }), 300)
})

t.test('binary frames carry the bytes', async t => {
  property(t, 'any bytes', fc.property(size, fc.nat(255), (n, fill) => {
    const payload = Buffer.alloc(n, fill)
    const f = decode(encodeBinaryFrame(payload))
    return f !== null && f.fin && f.opcode === 2 && f.payload.equals(payload)
  }), 300)
})

t.test("ws's own Receiver reads our frames back", async t => {
  property(t, 'text and binary', fc.property(fc.array(fc.oneof(anyText(80).map(s => ({ text: s })), fc.uint8Array({ maxLength: 80 }).map(b => ({ bin: Buffer.from(b) }))), { maxLength: 5 }), messages => {
    const got: Array<{ text: string } | { bin: Buffer }> = []
    let failed: Error | null = null
    // A client-side receiver: server frames are unmasked.
    const r = new Receiver({ isServer: false, skipUTF8Validation: true })
    r.on('message', (data: Buffer, isBinary: boolean) => got.push(isBinary ? { bin: Buffer.from(data) } : { text: data.toString('utf8') }))
    r.on('error', (err: Error) => { failed = err })
    for (const m of messages) r.write('text' in m ? encodeTextFrame(m.text) : encodeBinaryFrame(m.bin))
    if (failed !== null) return false
    return got.length === messages.length && messages.every((m, i) => {
      const g = got[i]
      return 'text' in m ? 'text' in g && g.text === Buffer.from(m.text, 'utf8').toString('utf8') : 'bin' in g && g.bin.equals(m.bin)
    })
  }), 300)
})
