// Reconnect delays: exponential, capped, jittered downwards (pure function).
import t from 'tap'
import { backoffDefaults, backoffDelay } from '../lib/client/backoff.js'

t.test('grows by factor, capped at maxDelay, without jitter', async t => {
  const o = { ...backoffDefaults, initialDelay: 100, maxDelay: 1000, jitter: 0 }
  t.same([1, 2, 3, 4, 5, 6].map(n => backoffDelay(o, n)), [100, 200, 400, 800, 1000, 1000])
})

t.test('jitter draws from [d·(1-jitter), d]', async t => {
  const o = { ...backoffDefaults, initialDelay: 1000, maxDelay: 1000, jitter: 0.5 }
  t.equal(backoffDelay(o, 1, () => 0), 1000)
  t.equal(backoffDelay(o, 1, () => 0.999999), 500)
  t.equal(backoffDelay(o, 1, () => 0.5), 750)
  const many = Array.from({ length: 200 }, () => backoffDelay(o, 3))
  t.ok(many.every(d => d >= 500 && d <= 1000))
  t.ok(new Set(many).size > 10, 'spread out, not in step')
})

t.test('defaults: 500 ms first, 10 s cap', async t => {
  const o = { ...backoffDefaults, jitter: 0 }
  t.equal(backoffDelay(o, 1), 500)
  t.equal(backoffDelay(o, 20), 10_000)
})
