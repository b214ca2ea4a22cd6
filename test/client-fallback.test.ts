// transport: 'auto' — WebSocket first, WebChannel when the upgrade fails or
// stalls. Runs without a global XMLHttpRequest: in Node the client drives
// closure's WebChannel over fetch.
import t from 'tap'
import WebSocket from 'ws'
import { connect } from '../lib/client/index.js'
import { closeAll, nextEvent, recordEvents, recordingWebSocket, startClientServer } from './helpers/client-server.js'

t.test('auto falls back to WebChannel when the server refuses the upgrade', async t => {
  const s = await startClientServer(app => {
    app.webchannel.on('echo', (_ctx, x) => x)
  }, { websocket: { enabled: false } })
  const { WebSocket: Recording, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket: Recording })
  t.teardown(() => closeAll(s.app, client))
  const events = recordEvents(client)
  t.same(await nextEvent(client, 'open'), { transport: 'webchannel', reconnected: false, resumed: false, restored: [] })
  t.equal(await client.request('echo', 'via long poll'), 'via long poll')
  t.equal(log.urls.length, 1, 'the WebSocket was tried first')
  t.same(log.sent, [], 'nothing was sent on the failed socket')
  t.same(events.filter(e => e[0] === 'transport'), [['transport', { transport: 'webchannel', previous: null }]])
  t.same(events.filter(e => e[0] === 'error'), [], 'a fallback is not an error')
})

t.test('auto falls back when the upgrade stalls longer than fallbackAfter', async t => {
  let release!: () => void
  const held = new Promise<void>(resolve => { release = resolve })
  const s = await startClientServer(app => {
    app.webchannel.on('echo', (_ctx, x) => x)
  }, {}, app => {
    // A proxy that swallows upgrades: the request never gets an answer.
    app.addHook('onRequest', async (req) => { if (req.url.startsWith('/channel/ws')) await held })
  })
  const client = connect(s.base, { WebSocket, fallbackAfter: 200 })
  t.teardown(async () => { release(); await closeAll(s.app, client) })
  const started = Date.now()
  t.same(await nextEvent(client, 'open'), { transport: 'webchannel', reconnected: false, resumed: false, restored: [] })
  t.ok(Date.now() - started >= 190, 'waited fallbackAfter first')
  t.equal(await client.request('echo', 1), 1)
})

t.test('without a WebSocket constructor (Node 20), auto goes straight to WebChannel', async t => {
  // Node 22 has a global WebSocket: take it away for this test, as on Node 20.
  const g = globalThis as { WebSocket?: unknown }
  const had = Object.getOwnPropertyDescriptor(g, 'WebSocket')
  if (had !== undefined) {
    delete g.WebSocket
    t.teardown(() => { Object.defineProperty(g, 'WebSocket', had) })
  }
  t.equal(g.WebSocket, undefined)
  const s = await startClientServer(app => {
    app.webchannel.on('echo', (_ctx, x) => x)
  })
  const client = connect(s.base)
  t.teardown(() => closeAll(s.app, client))
  t.match(await nextEvent(client, 'open'), { transport: 'webchannel' })
  t.equal(await client.request('echo', 'fetch'), 'fetch')
})

t.test('forced websocket does not fall back; the failure is reported and retried', async t => {
  const s = await startClientServer(() => {}, { websocket: { enabled: false } })
  const client = connect(s.base, { WebSocket, transport: 'websocket', reconnect: { initialDelay: 10_000 } })
  t.teardown(() => closeAll(s.app, client))
  const reconnecting = nextEvent(client, 'reconnecting')
  const err = await nextEvent(client, 'error')
  t.equal(err.code, 'WEBCHANNEL_CLIENT_CONNECT_FAILED')
  t.match(err.message, /websocket/)
  t.match(await reconnecting, { attempt: 1 })
  t.equal(client.transport, null)
  t.equal(client.state, 'reconnecting')
})
