// fastify-webchannel/client/websocket: the client without a default WebChannel
// loader. Same API; 'auto' is WebSocket only unless loadWebChannel is given.
import t from 'tap'
import WebSocket from 'ws'
import { Client as FullClient, connect as connectFull } from '../lib/client/index.js'
import { Client, ClientError, connect } from '../lib/client/websocket.js'
import { closeAll, nextEvent, startClientServer } from './helpers/client-server.js'

t.test('talks over WebSocket like the full entry', async t => {
  const s = await startClientServer(app => {
    app.webchannel.on('echo', (_ctx, x) => x)
  })
  const client = connect(s.base, { WebSocket })
  t.teardown(() => closeAll(s.app, client))
  t.ok(client instanceof Client)
  t.notOk(client instanceof FullClient, 'the core class, not the full entry\'s subclass')
  t.same(await nextEvent(client, 'open'), { transport: 'websocket', reconnected: false, resumed: false, restored: [] })
  t.equal(await client.request('echo', 'hi'), 'hi')
})

t.test('without a loader, auto never tries WebChannel', async t => {
  const paths: string[] = []
  const s = await startClientServer(() => {}, { websocket: { enabled: false } }, app => {
    app.addHook('onRequest', async (req) => { paths.push(req.url) })
  })
  const client = connect(s.base, { WebSocket, reconnect: false })
  t.teardown(() => closeAll(s.app, client))
  const err = await nextEvent(client, 'error')
  t.ok(err instanceof ClientError)
  t.match(String((err as Error).message), /Could not connect \(websocket: /)
  t.same(paths.filter(p => !p.startsWith('/channel/ws')), [], 'no WebChannel request reached the server')
})

t.test('with a loader, auto falls back to WebChannel', async t => {
  const s = await startClientServer(app => {
    app.webchannel.on('echo', (_ctx, x) => x)
  }, { websocket: { enabled: false } })
  let loads = 0
  const client = connect(s.base, {
    WebSocket,
    loadWebChannel: () => { loads++; return import('@firebase/webchannel-wrapper/webchannel-blob') },
  })
  t.teardown(() => closeAll(s.app, client))
  t.same(await nextEvent(client, 'open'), { transport: 'webchannel', reconnected: false, resumed: false, restored: [] })
  t.equal(await client.request('echo', 'via long poll'), 'via long poll')
  t.equal(loads, 1)
})

t.test('transport webchannel without a loader is refused at once', async t => {
  t.throws(() => connect('http://127.0.0.1:1/channel', { transport: 'webchannel' }), TypeError)
  // The full entry still loads closure's client by default.
  const full = connectFull('http://127.0.0.1:1/channel', { transport: 'webchannel', reconnect: false })
  full.close()
  t.ok(full instanceof Client, 'the full entry\'s Client extends the core one')
})
