// Fuzz: the ws-wrapper envelope codec never throws, round-trips, and
// validates request ids; JSON with __proto__ keys pollutes nothing.
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import t from 'tap'
import { decodeEnvelope, encodeEvent, encodeReject, encodeRequest, encodeResolve, isRequestId, parseEnvelope } from '../../lib/codecs/envelope.js'
import { anyText, mutated, property } from '../helpers/fuzz.js'

const KINDS = new Set(['event', 'request', 'bad-request', 'resolve', 'reject', 'ignored'])
/** What JSON carries of a value (-0 → 0, undefined dropped, …). */
const viaJson = (v: unknown): unknown => JSON.parse(JSON.stringify(v))
const args = fc.array(fc.jsonValue(), { maxLength: 4 })
const channel = fc.option(anyText(12), { nil: null })
const requestId = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })

const validText = fc.oneof(
  fc.tuple(channel, anyText(12), args).map(([c, n, a]) => encodeEvent(c, n, a)),
  fc.tuple(channel, anyText(12), args, requestId).map(([c, n, a, i]) => encodeRequest(c, n, a, i)),
  fc.tuple(requestId, fc.jsonValue()).map(([i, d]) => encodeResolve(i, d)),
  fc.tuple(requestId, anyText(12)).map(([i, m]) => encodeReject(i, { message: m, code: 'X' }))
)

t.test('parseEnvelope: arbitrary and mutated text never throws and yields a known kind', async t => {
  const known = (text: string) => KINDS.has(parseEnvelope(text).kind)
  property(t, 'arbitrary text', fc.property(anyText(200), known), 500)
  property(t, 'arbitrary JSON', fc.property(fc.json(), known), 300)
  property(t, 'mutated envelopes', fc.property(mutated(validText), known), 500)
})

t.test('decodeEnvelope: any value never throws', async t => {
  property(t, 'anything', fc.property(fc.anything({ withObjectString: true, withNullPrototype: true, withSparseArray: true }), v => KINDS.has(decodeEnvelope(v).kind)), 300)
})

t.test('encode → parse round-trips events, requests, answers and rejections', async t => {
  property(t, 'event', fc.property(channel, anyText(12), args, (c, n, a) => {
    // An empty channel name means the main channel.
    return isDeepStrictEqual(parseEnvelope(encodeEvent(c, n, a)), { kind: 'event', channel: c === '' ? null : c, name: n, args: viaJson(a) })
  }), 200)
  property(t, 'request', fc.property(channel, anyText(12), args, requestId, (c, n, a, i) => {
    const m = parseEnvelope(encodeRequest(c, n, a, i))
    return m.kind === 'request' && m.id === i && m.name === n && m.channel === (c === '' ? null : c) &&
      JSON.stringify(m.args) === JSON.stringify(viaJson(a))
  }), 300)
  property(t, 'resolve', fc.property(requestId, fc.option(fc.jsonValue(), { nil: undefined }), (i, d) => {
    const m = parseEnvelope(encodeResolve(i, d))
    return m.kind === 'resolve' && m.id === i && JSON.stringify(m.data) === JSON.stringify(d === undefined ? undefined : viaJson(d))
  }), 300)
  property(t, 'reject', fc.property(requestId, anyText(20), (i, message) => {
    const m = parseEnvelope(encodeReject(i, { message, code: 'C' }))
    return m.kind === 'reject' && m.id === i && (m.error as { message: string }).message === JSON.parse(JSON.stringify(message))
  }), 300)
})

t.test('request ids: only positive safe integers make a request', async t => {
  const anyId = fc.oneof(fc.integer(), fc.double(), fc.bigInt().map(String), anyText(6), fc.constantFrom(0, -1, 1.5, 2 ** 53, Number.MAX_SAFE_INTEGER, NaN, true, [], {}))
  property(t, 'i', fc.property(anyId, id => {
    const m = decodeEnvelope({ a: ['x'], i: id })
    return isRequestId(id) ? m.kind === 'request' : m.kind === 'bad-request'
  }), 500)
})

t.test('__proto__ and constructor keys in JSON pollute no prototype', async t => {
  const hostile = fc.tuple(fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.jsonValue()).map(([k, v]) =>
    `{"a":["x",{${JSON.stringify(k)}:{"polluted":true}}],${JSON.stringify(k)}:${JSON.stringify({ polluted: true, v })},"i":1}`)
  property(t, 'hostile keys', fc.property(hostile, text => {
    parseEnvelope(text)
    return ({} as Record<string, unknown>).polluted === undefined && (Object.prototype as Record<string, unknown>).polluted === undefined
  }), 200)
})
