// Fuzz: forward bodies (`count=N&ofs=K&reqI_key=value…`), form fields and
// header blocks. Hostile input only ever raises MapsError; bodies encoded
// as the client encodes them decode to the same maps.
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { MapsError, mapKey, parseForm, parseForwardBody, parseHeaderBlock } from '../../lib/codecs/webchannel-maps.js'
import { anyText, mutated, property, throwsOnly } from '../helpers/fuzz.js'

type Sent = { kind: 'data', data: string } | { kind: 'map', data: Record<string, string> } | { kind: 'bad' }

const key = anyText(10).filter(k => k !== '' && k !== '__data__')
const sentMap: fc.Arbitrary<Sent> = fc.oneof(
  anyText(40).map(data => ({ kind: 'data' as const, data })),
  fc.dictionary(key, anyText(20), { maxKeys: 4 })
    .filter(d => !(Object.keys(d).length === 1 && d.type === '_badmap'))
    .map(data => ({ kind: 'map' as const, data })),
  fc.constant({ kind: 'bad' as const })
)
/** Lone surrogates become U+FFFD, as UTF-8 encoding makes them. */
const wellFormed = (s: string): string => Buffer.from(s, 'utf8').toString('utf8')
const enc = (s: string): string => encodeURIComponent(wellFormed(s))

/** The body the client would send for these maps (§5 of the wire notes). */
function body (ofs: number, maps: readonly Sent[]): string {
  const fields = [`count=${maps.length}`]
  if (maps.length > 0) fields.push(`ofs=${ofs}`)
  maps.forEach((m, i) => {
    if (m.kind === 'data') fields.push(`req${i}___data__=${enc(m.data)}`)
    else if (m.kind === 'bad') fields.push(`req${i}_type=_badmap`)
    else for (const [k, v] of Object.entries(m.data)) fields.push(`req${i}_${enc(k)}=${enc(v)}`)
  })
  return fields.join('&')
}

const validBody = fc.tuple(fc.nat({ max: 1_000_000 }), fc.array(sentMap, { maxLength: 8 })).map(([ofs, maps]) => body(ofs, maps))

t.test('parseForwardBody: arbitrary and mutated bodies raise MapsError or nothing', async t => {
  const only = (text: string) => throwsOnly(() => parseForwardBody(text), MapsError)
  property(t, 'arbitrary text', fc.property(anyText(200), only), 600)
  property(t, 'mutated bodies', fc.property(mutated(validBody), only), 800)
  const fieldish = fc.array(fc.tuple(fc.constantFrom('count', 'ofs', 'headers', 'req0_a', 'req1___data__', 'req999_x', 'req1000_y', 'req01_z', 'req_', '__proto__', 'req0___proto__', 'req0_constructor'), anyText(8)), { maxLength: 6 })
    .map(fields => fields.map(([k, v]) => `${k}=${v}`).join('&'))
  property(t, 'plausible field names, hostile values', fc.property(fieldish, only), 600)
  property(t, 'count and ofs at and beyond their bounds', fc.property(fc.oneof(fc.integer(), fc.constantFrom(1000, 1001, 2 ** 53, -1)), fc.oneof(fc.integer(), fc.constantFrom(2 ** 53 - 1000, 2 ** 53)), (count, ofs) =>
    only(`count=${count}&ofs=${ofs}&req0___data__=x`)), 300)
})

t.test('parseForwardBody: the client\'s encoding round-trips, with null-prototype maps', async t => {
  property(t, 'round trip', fc.property(fc.nat({ max: 1_000_000 }), fc.array(sentMap, { maxLength: 8 }), (ofs, maps) => {
    const parsed = parseForwardBody(body(ofs, maps))
    if (parsed.count !== maps.length || parsed.maps.length !== maps.length) return false
    return maps.every((m, i) => {
      const got = parsed.maps[i]
      if (got.id !== ofs + i || got.kind !== m.kind) return false
      if (m.kind === 'data') return got.kind === 'data' && got.data === wellFormed(m.data)
      if (m.kind === 'bad') return true
      if (got.kind !== 'map' || Object.getPrototypeOf(got.data) !== null) return false
      const expected = Object.fromEntries(Object.entries(m.data).map(([k, v]) => [wellFormed(k), wellFormed(v)]))
      return isDeepStrictEqual({ ...got.data }, expected)
    })
  }), 500)
  property(t, '__proto__ keys stay data', fc.property(fc.constantFrom('__proto__', 'constructor', 'prototype', 'hasOwnProperty'), anyText(10), (k, v) => {
    const parsed = parseForwardBody(`count=1&ofs=0&req0_${k}=${enc(v)}`)
    const m = parsed.maps[0]
    return m.kind === 'map' && Object.getPrototypeOf(m.data) === null && m.data[k] === wellFormed(v) &&
      ({} as Record<string, unknown>).polluted === undefined
  }), 100)
})

t.test('parseForm and mapKey never throw anything but MapsError', async t => {
  property(t, 'parseForm', fc.property(fc.oneof(anyText(200), mutated(validBody)), text => throwsOnly(() => parseForm(text), MapsError)), 600)
  const grammar = /^req(0|[1-9]\d{0,3})_(.+)$/s
  property(t, 'mapKey agrees with its grammar', fc.property(fc.oneof(anyText(12), fc.tuple(fc.constantFrom('req', 'req0', 'req01', 'req9999', 'req10000'), anyText(6)).map(([a, b]) => a + b)), field => {
    const m = grammar.exec(field)
    return isDeepStrictEqual(mapKey(field), m === null ? null : { index: Number(m[1]), name: m[2] })
  }), 600)
})

t.test('parseHeaderBlock: only allow-listed names, no control characters in values, MapsError otherwise', async t => {
  const allowed = ['authorization', 'x-a']
  const headerName = fc.constantFrom('Authorization', 'X-A', 'Cookie', 'Host', 'x-a', 'Connection', 'Transfer-Encoding')
  const validBlock = fc.array(fc.tuple(headerName, fc.string({ unit: 'grapheme-ascii', maxLength: 20 })), { maxLength: 5 })
    .map(hs => hs.map(([n, v]) => `${n}:${v}\r\n`).join(''))
  const sane = (block: string) => throwsOnly(() => {
    const out = parseHeaderBlock(block, allowed)
    for (const [name, value] of Object.entries(out)) {
      // eslint-disable-next-line no-control-regex
      if (!allowed.includes(name) || /[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) throw new Error(`let through ${name}: ${JSON.stringify(value)}`)
    }
  }, MapsError)
  property(t, 'arbitrary blocks', fc.property(anyText(200), sane), 600)
  property(t, 'mutated blocks', fc.property(mutated(validBlock), sane), 600)
  property(t, 'valid blocks keep the allowed headers, last one wins', fc.property(fc.array(fc.tuple(headerName, fc.string({ unit: 'grapheme-ascii', maxLength: 20 }).map(v => v.trim())), { maxLength: 5 }), hs => {
    const block = hs.map(([n, v]) => `${n}:${v}\r\n`).join('')
    const expected: Record<string, string> = {}
    for (const [n, v] of hs) if (allowed.includes(n.toLowerCase())) expected[n.toLowerCase()] = v
    return isDeepStrictEqual({ ...parseHeaderBlock(block, allowed) }, expected)
  }), 400)
})
