// Fuzz: WebChannel framing. Length prefixes count UTF-16 code units (astral
// characters, U+2028/U+2029 included) exactly as the client slices them after
// decoding the body as UTF-8; the parser never throws.
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { asciiJson, encodeArrays, escapeLineSeparators, frame, frameArrays, parseFrames, toPayload } from '../../lib/codecs/webchannel-framing.js'
import { anyText, mutated, property } from '../helpers/fuzz.js'

const viaJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v))
/** JSON values whose strings carry every awkward character. */
const value = fc.letrec(tie => ({
  v: fc.oneof({ depthSize: 'small' },
    anyText(24), fc.integer(), fc.boolean(), fc.constant(null),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(anyText(6), tie('v'), { maxKeys: 4 })),
})).v
const arrays = fc.array(fc.tuple(fc.nat(), value), { maxLength: 6 })
  .map(list => list.map(([id, v]) => ({ id, payload: toPayload(JSON.stringify(v)) })))

/** What the closure client does: decode the bytes as UTF-8, read `<len>\n`, slice `len` characters. */
function clientRead (bytes: Buffer): unknown[] {
  const text = bytes.toString('utf8')
  const out: unknown[] = []
  let pos = 0
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos)
    const len = Number(text.slice(pos, nl))
    out.push(JSON.parse(text.slice(nl + 1, nl + 1 + len)))
    pos = nl + 1 + len
  }
  return out
}

t.test('frame: the prefix is the UTF-16 length; the client reads back every chunk from the UTF-8 bytes', async t => {
  property(t, 'prefix = string length', fc.property(anyText(100), s => frame(s).startsWith(`${s.length}\n`)), 500)
  property(t, 'chunks survive UTF-8 and the client\'s slicing', fc.property(fc.array(value, { maxLength: 5 }), values => {
    const body = values.map(v => frame(toPayload(JSON.stringify(v)))).join('')
    return isDeepStrictEqual(clientRead(Buffer.from(body, 'utf8')), values.map(viaJson))
  }), 400)
  property(t, 'astral and line separators only', fc.property(fc.string({ unit: fc.constantFrom('😀', '𝄞', '\u2028', '\u2029', 'a'), maxLength: 50 }), s => {
    const chunk = frame(toPayload(JSON.stringify({ s })))
    return isDeepStrictEqual(clientRead(Buffer.from(chunk, 'utf8')), [{ s }])
  }), 300)
})

t.test('encodeArrays / frameArrays round-trip through parseFrames', async t => {
  property(t, 'arrays', fc.property(arrays, list => {
    const parsed = parseFrames(frameArrays(list))
    const expected = list.map(a => [a.id, JSON.parse(a.payload)])
    return parsed.error === null && parsed.rest === '' && isDeepStrictEqual(parsed.chunks, [expected]) &&
      isDeepStrictEqual(JSON.parse(encodeArrays(list)), expected)
  }), 400)
})

t.test('parseFrames: arbitrary and mutated streams never throw; any split point gives the same chunks', async t => {
  const valid = fc.array(arrays, { maxLength: 3 }).map(chunks => chunks.map(frameArrays).join(''))
  const sane = (text: string) => {
    const p = parseFrames(text)
    return Array.isArray(p.chunks) && typeof p.rest === 'string' && (p.error === null || typeof p.error === 'string')
  }
  property(t, 'arbitrary text', fc.property(anyText(200), sane), 500)
  property(t, 'mutated streams', fc.property(mutated(valid), sane), 500)
  property(t, 'split anywhere', fc.property(valid, fc.nat(), (text, at) => {
    const k = text.length === 0 ? 0 : at % (text.length + 1)
    const first = parseFrames(text.slice(0, k))
    const second = parseFrames(first.rest + text.slice(k))
    return first.error === null && second.error === null && second.rest === '' &&
      isDeepStrictEqual([...first.chunks, ...second.chunks], parseFrames(text).chunks)
  }), 400)
})

t.test('toPayload, escapeLineSeparators, asciiJson keep the value and drop the dangerous characters', async t => {
  property(t, 'toPayload', fc.property(fc.oneof(anyText(60), fc.json()), text => {
    const out = toPayload(text)
    let expected: unknown
    try { expected = JSON.parse(text) } catch { expected = text }
    if (text === '') expected = ''
    return !/[\u2028\u2029]/.test(out) && isDeepStrictEqual(JSON.parse(out), expected)
  }), 500)
  property(t, 'escapeLineSeparators', fc.property(value, v => {
    const out = escapeLineSeparators(JSON.stringify(v))
    return !/[\u2028\u2029]/.test(out) && isDeepStrictEqual(JSON.parse(out), viaJson(v))
  }), 300)
  property(t, 'asciiJson', fc.property(value, v => {
    const out = asciiJson(JSON.stringify(v))
    // eslint-disable-next-line no-control-regex
    return /^[\u0000-\u007e]*$/.test(out) && isDeepStrictEqual(JSON.parse(out), viaJson(v))
  }), 300)
})
