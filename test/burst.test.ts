// A burst far larger than one turn's write budget (lib/transports/turn-batch.ts):
// the batch is flushed several times while the app's loop runs. Every
// subscriber, over either transport, still gets every message once and in
// order, and a request's answer written after the burst arrives after it.
import t from 'tap'
import WebSocket from 'ws'
import { BYTE_BUDGET } from '../lib/transports/turn-batch.js'
import { startWcServer } from './helpers/wc-app.js'
import { openChannel } from './helpers/wc-node-client.js'

const COUNT = 3000
const PAD = 'p'.repeat(150)
const WS_CLIENTS = 10
const WC_CLIENTS = 3

interface WsSubscriber {
  ws: WebSocket
  frames: unknown[]
  /** Resolves once `n` frames have arrived. */
  frames$ (n: number): Promise<unknown[]>
}

async function wsSubscriber (url: string): Promise<WsSubscriber> {
  const ws = new WebSocket(url)
  const frames: unknown[] = []
  let want = Infinity
  let done: (() => void) | null = null
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()))
    if (frames.length >= want && done !== null) done()
  })
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const frames$ = (n: number): Promise<unknown[]> => {
    if (frames.length >= n) return Promise.resolve(frames)
    want = n
    return new Promise((resolve, reject) => {
      done = () => resolve(frames)
      ws.once('close', () => reject(new Error(`closed after ${frames.length} of ${n} frames`)))
    })
  }
  ws.send(JSON.stringify({ a: ['subscribe', 'room'], i: 1 }))
  await frames$(1)
  t.same(frames.shift(), { i: 1, d: true }, 'subscribed')
  return { ws, frames, frames$ }
}

const expected = Array.from({ length: COUNT }, (_, n) => ({ c: 'room', a: ['n', n, PAD] }))

t.test('a burst bigger than the write budget reaches every subscriber in order, once', async t => {
  // Each message is ~190 bytes on the wire: the burst is several budgets, so
  // it is flushed several times before the loop ends.
  const bytes = COUNT * JSON.stringify(expected[0]).length * (WS_CLIENTS + WC_CLIENTS)
  t.ok(bytes > 4 * BYTE_BUDGET, `the burst (${bytes} bytes) spans several write budgets (${BYTE_BUDGET})`)

  const s = await startWcServer({}, app => {
    app.webchannel.channel('room')
    app.webchannel.on('burst', () => {
      for (let n = 0; n < COUNT; n++) app.webchannel.to('room').emit('n', n, PAD)
      return 'done'
    })
  })
  t.teardown(() => s.app.close())

  const wsUrl = `ws://127.0.0.1:${s.port}/channel/ws`
  const subs = await Promise.all(Array.from({ length: WS_CLIENTS }, () => wsSubscriber(wsUrl)))
  const wcs = Array.from({ length: WC_CLIENTS }, () => openChannel(s.url, { sendRawJson: true }))
  for (const wc of wcs) {
    await wc.opened()
    wc.send({ a: ['subscribe', 'room'], i: 1 })
    await wc.waitForMessages(1)
    t.same(wc.messages.shift(), { i: 1, d: true }, 'WebChannel client subscribed')
  }
  t.equal(s.app.webchannel.to('room').localCount(), WS_CLIENTS + WC_CLIENTS)

  // One WebSocket client asks for the burst: its answer is written after the last message.
  subs[0].ws.send(JSON.stringify({ a: ['burst'], i: 2 }))
  const all = await subs[0].frames$(COUNT + 1)
  t.same(all.slice(0, COUNT), expected, 'the requester got the burst in order')
  t.same(all[COUNT], { i: 2, d: 'done' }, 'and the answer after it')

  for (const [k, sub] of subs.slice(1).entries()) {
    const frames = await sub.frames$(COUNT)
    t.same(frames, expected, `WebSocket subscriber ${k + 1}: every message once, in order`)
  }
  for (const [k, wc] of wcs.entries()) {
    const got = await wc.waitForMessages(COUNT, 30_000)
    t.same(got, expected, `WebChannel subscriber ${k}: every message once, in order`)
  }
  for (const sub of subs) sub.ws.close()
  for (const wc of wcs) wc.close()
})
