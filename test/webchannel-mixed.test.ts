// One app, both transports: a WebSocket client (ws-wrapper over ws) and a
// WebChannel client (the real wrapper, in Node) in the same channel.
import t from 'tap'
import WebSocket from 'ws'
import WebSocketWrapper from 'ws-wrapper'
import { startWcServer } from './helpers/wc-app.js'
import { openChannel } from './helpers/wc-node-client.js'

interface Wrapper {
  request (event: string, ...args: unknown[]): Promise<unknown>
  emit (event: string, ...args: unknown[]): void
  of (channel: string): { on (event: string, fn: (...args: unknown[]) => void): void, request (event: string, ...args: unknown[]): Promise<unknown> }
}

t.test('a WebSocket client and a WebChannel client exchange messages through one channel', async t => {
  const s = await startWcServer({ webchannel: { keepaliveInterval: 2000 } }, app => {
    app.webchannel.channel('room')
    app.webchannel.of('room').on('say', (ctx, text: string) => {
      app.webchannel.to('room').emit('said', ctx.session.kind, text)
      return 'sent'
    })
  })
  t.teardown(() => s.app.close())

  const ws = new WebSocket(`ws://127.0.0.1:${s.port}/channel/ws`)
  const wrapper = new (WebSocketWrapper as unknown as new (ws: WebSocket) => Wrapper)(ws)
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
  const wsGot: unknown[][] = []
  let gotTwo!: () => void
  const wsGotTwo = new Promise<void>(resolve => { gotTwo = resolve })
  wrapper.of('room').on('said', (...args) => {
    wsGot.push(args)
    if (wsGot.length === 2) gotTwo()
  })
  t.equal(await wrapper.request('subscribe', 'room'), true)

  const wc = openChannel(s.url, { sendRawJson: true })
  await wc.opened()
  wc.send({ a: ['subscribe', 'room'], i: 1 })
  await wc.waitForMessages(1)
  t.same(wc.messages[0], { i: 1, d: true })
  t.equal(s.app.webchannel.to('room').localCount(), 2)

  // WebChannel → both.
  wc.send({ c: 'room', a: ['say', 'from wc 😀'], i: 2 })
  await wc.waitForMessages(3)
  // WebSocket → both.
  t.equal(await wrapper.of('room').request('say', 'from ws ü'), 'sent')
  await wc.waitForMessages(4)
  const wcSaid = wc.messages.filter(m => (m as { c?: string }).c === 'room')
  t.same(wcSaid, [
    { c: 'room', a: ['said', 'webchannel', 'from wc 😀'] },
    { c: 'room', a: ['said', 'websocket', 'from ws ü'] },
  ])
  await wsGotTwo
  t.same(wsGot, [['webchannel', 'from wc 😀'], ['websocket', 'from ws ü']])
  t.same(wc.messages.find(m => (m as { i?: number }).i === 2), { i: 2, d: 'sent' })

  // One broadcast reaches both transports.
  t.equal(s.app.webchannel.all().emit('news', 1), 2)
  await wc.waitForMessages(5)
  t.same(wc.messages[4], { a: ['news', 1] })
  wc.close()
  await wc.closed()
  const wsClosed = new Promise(resolve => ws.once('close', resolve))
  ws.close()
  await wsClosed
})
