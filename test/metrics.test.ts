import { Registry } from 'prom-client'
import t from 'tap'
import { startApp } from './helpers/app.js'
import { handshake } from './helpers/wc-raw.js'
import { connectWs } from './helpers/ws-client.js'

// Prometheus metrics: off by default, one option on, read from real traffic.

function value (text: string, line: string): number {
  const found = text.split('\n').find(l => l.startsWith(line + ' '))
  return found === undefined ? NaN : Number(found.slice(line.length + 1))
}

t.test('metrics count sessions, messages, ends, rate limits and handler time, in the app\'s registry too', async t => {
  const registry = new Registry()
  const s = await startApp({ metrics: { registry }, rateLimit: { messages: { rate: 0.01, burst: 3 } } }, app => {
    app.webchannel.on('echo', (_c, v: unknown) => v)
    app.webchannel.on('fail', () => { throw new Error('no') })
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  t.equal(await c.wrapper.request('echo', 'abc'), 'abc')
  await c.wrapper.request('fail').catch(() => {})
  await c.wrapper.request('echo', 1)
  const limited = await c.wrapper.request('echo', 2).catch((e: { code: string }) => e.code)
  t.equal(limited, 'WEBCHANNEL_RATE_LIMITED')
  await handshake(new URL(s.url).origin)

  const text = await s.app.webchannel.metrics()
  t.equal(value(text, 'webchannel_sessions{transport="websocket"}'), 1)
  t.equal(value(text, 'webchannel_sessions{transport="webchannel"}'), 1)
  t.equal(value(text, 'webchannel_messages_received_total{transport="websocket"}'), 3, 'the rate-limited one is not received')
  t.equal(value(text, 'webchannel_messages_dropped_total{reason="rate-limited"}'), 1)
  t.equal(value(text, 'webchannel_rate_limited_total{limit="messages"}'), 1)
  t.ok(value(text, 'webchannel_messages_sent_total{transport="websocket"}') >= 4, 'three answers and one refusal')
  t.equal(value(text, 'webchannel_handler_duration_seconds_count{event="echo",outcome="ok"}'), 2)
  t.equal(value(text, 'webchannel_handler_duration_seconds_count{event="fail",outcome="error"}'), 1)

  c.ws.close()
  await c.closed
  const shared = await registry.metrics()
  t.match(shared, /webchannel_sessions_opened_total\{transport="websocket"\} 1/, 'registered in the app\'s registry')
})

t.test('off by default: nothing registered, metrics() says so', async t => {
  const s = await startApp({})
  t.teardown(() => s.app.close())
  t.match(await s.app.webchannel.metrics(), /metrics are off/)
})
