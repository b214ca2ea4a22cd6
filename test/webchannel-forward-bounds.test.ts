// The forward channel's reorder buffer is bounded in count and bytes, not
// only in time (case 9; issue 17, defect 8: 60 concurrent out-of-order 1 MB
// POSTs were all held for 5 s). ForwardChannel has no I/O: driven directly.
import t from 'tap'
import type { ForwardMap } from '../lib/codecs/webchannel-maps.js'
import { DEFAULT_MAX_BUFFERED_BYTES, ForwardChannel, mapBytes } from '../lib/transports/webchannel/forward-channel.js'

function data (id: number, chars = 1): ForwardMap {
  return { id, kind: 'data', data: String(id % 10).repeat(chars) }
}

function range (from: number, to: number, chars = 1): ForwardMap[] {
  const out: ForwardMap[] = []
  for (let id = from; id <= to; id++) out.push(data(id, chars))
  return out
}

/** The outcome if the POST was answered by now, else 'waiting'. */
function state (p: Promise<string>): Promise<string> {
  return Promise.race([p, new Promise<string>(resolve => setImmediate(() => resolve('waiting')))])
}

/** The channel and what it delivered, with a gap timeout long enough that only an overflow answers at once. */
function channel (maxBuffered: number, maxBufferedBytes?: number, gapTimeout = 60_000) {
  const seen: number[] = []
  const fc = new ForwardChannel((m) => { seen.push(m.id); return undefined }, gapTimeout, maxBuffered, maxBufferedBytes)
  return { fc, seen }
}

t.test('mapBytes counts 2 bytes per UTF-16 code unit of keys and values', async t => {
  t.equal(mapBytes({ id: 0, kind: 'data', data: 'abc' }), 6)
  t.equal(mapBytes({ id: 0, kind: 'data', data: '😀' }), 4, 'an astral character is two code units')
  t.equal(mapBytes({ id: 0, kind: 'map', data: { ab: 'c', d: '' } }), 8)
  t.equal(mapBytes({ id: 0, kind: 'bad' }), 0)
})

t.test('past the count bound a POST is answered overflow at once and nothing of it is held', async t => {
  const { fc, seen } = channel(10)
  const waiting = fc.submit(range(5, 9))
  t.same(fc.held, { maps: 5, bytes: 10 }, 'five maps held behind the gap')
  const t0 = Date.now()
  t.equal(await fc.submit(range(10, 15)), 'overflow', '5 + 6 maps > 10')
  t.ok(Date.now() - t0 < 1000, 'answered at once, not after the gap timeout')
  t.same(fc.held, { maps: 5, bytes: 10 }, 'the refused POST left the buffer as it was')
  t.equal(await fc.submit(range(0, 4)), 'accepted', 'the gap fills')
  t.equal(await waiting, 'accepted', 'the POST held before the overflow still completes')
  t.same(seen, range(0, 9).map(m => m.id), 'delivered in order, the refused maps not among them')
  t.same(fc.held, { maps: 0, bytes: 0 })
  t.equal(await fc.submit(range(10, 15)), 'accepted', 'the refused maps are taken once they fit')
})

t.test('a POST that closes the gap is taken even when the buffer is full', async t => {
  const { fc } = channel(10)
  const waiting = fc.submit(range(1, 10))
  t.same(fc.held.maps, 10, 'full: ten maps held')
  t.equal(await fc.submit(range(0, 0)), 'accepted')
  t.equal(await waiting, 'accepted')
})

t.test('past the byte bound a POST is answered overflow at once', async t => {
  const { fc, seen } = channel(1000, 1000)
  const waiting = fc.submit([data(1, 300)])
  t.same(fc.held, { maps: 1, bytes: 600 })
  t.equal(await fc.submit([data(2, 300)]), 'overflow', '600 + 600 bytes > 1000')
  const second = fc.submit([data(3, 200)])
  t.equal(await state(second), 'waiting', 'a map that fits is held')
  t.same(fc.held, { maps: 2, bytes: 1000 }, 'exactly at the byte bound')
  t.equal(await fc.submit([data(4, 1)]), 'overflow', 'one more byte does not fit')
  t.equal(await fc.submit([data(0, 1)]), 'accepted')
  t.equal(await waiting, 'accepted')
  t.same(seen, [0, 1], 'map 2 was refused: delivery stops at the gap it leaves')
  t.equal(await fc.submit([data(2, 1)]), 'accepted', 'the refused map, resent, fits now')
  t.equal(await second, 'accepted')
  t.same(seen, [0, 1, 2, 3])
})

t.test('the default byte bound (4 MiB) applies when the fourth argument is left out', async t => {
  t.equal(DEFAULT_MAX_BUFFERED_BYTES, 4 * 1024 * 1024)
  const { fc } = channel(10_000)
  // 2 Mi code units = 4 MiB, plus one map more.
  t.equal(await state(fc.submit([data(1, 2 * 1024 * 1024)])), 'waiting', '4 MiB fits')
  t.equal(await fc.submit([data(2, 1)]), 'overflow', 'one byte over 4 MiB does not')
  fc.dispose()
  t.same(fc.held, { maps: 0, bytes: 0 }, 'dispose frees what was held')
})

t.test('maps held behind a handler still running count too', async t => {
  let release: () => void = () => {}
  const seen: number[] = []
  const fc = new ForwardChannel((m) => {
    seen.push(m.id)
    return m.id === 0 ? new Promise<void>(resolve => { release = resolve }) : undefined
  }, 60_000, 3)
  const first = fc.submit(range(0, 2))
  t.same(fc.held.maps, 3, 'map 0 is being handled, 1 and 2 wait behind it')
  t.equal(await fc.submit(range(3, 3)), 'overflow')
  release()
  t.equal(await first, 'accepted')
  t.same(seen, [0, 1, 2])
  t.same(fc.held, { maps: 0, bytes: 0 })
})

t.test('when the last waiting POST gives up on its gap, what it held is freed', async t => {
  const { fc, seen } = channel(100, undefined, 50)
  t.equal(await fc.submit(range(3, 5, 100)), 'retry', 'the gap never filled')
  t.same(fc.held, { maps: 0, bytes: 0 }, 'nothing is held for a POST the client will resend')
  t.equal(await fc.submit(range(0, 2)), 'accepted')
  t.equal(await fc.submit(range(3, 5)), 'accepted', 'the resent POST is delivered')
  t.same(seen, [0, 1, 2, 3, 4, 5])
})

t.test('sixty out-of-order 1 MB POSTs: all but what fits in the bound are refused at once', async t => {
  const { fc } = channel(10_000)
  const chars = 512 * 1024 // 1 MiB each
  const outcomes: Array<Promise<string>> = []
  for (let i = 1; i <= 60; i++) outcomes.push(fc.submit([data(i, chars)]))
  const settled = await Promise.all(outcomes.map(state))
  t.equal(settled.filter(o => o === 'waiting').length, 4, 'four 1 MiB maps fit in 4 MiB')
  t.equal(settled.filter(o => o === 'overflow').length, 56, 'the others are refused at once')
  t.ok(fc.held.bytes <= DEFAULT_MAX_BUFFERED_BYTES)
  fc.dispose()
})
