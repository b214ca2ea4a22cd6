// The project's client resumes its WebSocket session after a drop: every
// message the server sent meanwhile arrives once, in order, on the same
// session, and `open` says `resumed: true`. Its acknowledgements let the
// server forget what arrived.
import t from 'tap'
import { connect } from '../lib/client/index.js'
import { closeAll, fastReconnect, nextEvent, recordingWebSocket, startClientServer } from './helpers/client-server.js'
import { until } from './helpers/wc-app.js'

t.test('a dropped WebSocket resumes the same session and delivers what was missed', async t => {
  const s = await startClientServer(() => {})
  const { WebSocket, log } = recordingWebSocket()
  const client = connect(s.base, { transport: 'websocket', WebSocket, reconnect: fastReconnect })
  const got: unknown[] = []
  client.on('m', (n: unknown) => { got.push(n) })
  const firstOpen = await nextEvent(client, 'open')
  t.equal(firstOpen.resumed, false, 'the first session is new')
  const session = await s.sessions.next()
  for (let i = 1; i <= 3; i++) session.emit('m', i)
  await until(() => got.length === 3 ? true : undefined, '3 messages')

  // The server cuts the socket: no close frame, the session waits for its client.
  const reopened = nextEvent(client, 'open')
  for (const ws of s.app.websocketServer.clients) ws.terminate()
  for (let i = 4; i <= 6; i++) session.emit('m', i)
  const info = await reopened
  t.equal(info.resumed, true, 'open says resumed')
  t.equal(info.reconnected, true)
  await until(() => got.length >= 6 ? true : undefined, '6 messages')
  t.same(got, [1, 2, 3, 4, 5, 6], 'every message once, in order')
  t.equal(s.app.webchannel.sessions.size, 1, 'one session on the server')
  t.equal(s.app.webchannel.sessions.get(session.id), session, 'the same one')
  t.match(log.urls[1], new RegExp(`resume=${session.id}&seq=3$`), 'it asked to resume after the 3 messages it had')
  await closeAll(s.app, client)
})

t.test('acknowledgements let the server forget what arrived', async t => {
  const s = await startClientServer(() => {})
  const client = connect(s.base, { transport: 'websocket', WebSocket: recordingWebSocket().WebSocket, reconnect: fastReconnect })
  let n = 0
  client.on('m', () => { n++ })
  await nextEvent(client, 'open')
  const session = await s.sessions.next()
  for (let i = 0; i < 100; i++) session.emit('m', 'x'.repeat(20))
  t.ok(session.transport.bufferedAmount > 2000, 'kept until acknowledged')
  await until(() => n === 100 ? true : undefined, '100 messages')
  await until(() => session.transport.bufferedAmount === 0 ? true : undefined, 'everything acknowledged')
  t.equal(s.app.webchannel.inspect()[0].queuedBytes, 0, 'inspect shows nothing kept')
  await closeAll(s.app, client)
})

t.test('a session that ended while away: a new one, and open says so', async t => {
  const s = await startClientServer(() => {}, { websocket: { resume: { window: 50 } } })
  const client = connect(s.base, { transport: 'websocket', WebSocket: recordingWebSocket().WebSocket, reconnect: { initialDelay: 300, maxDelay: 300, jitter: 0 } })
  await nextEvent(client, 'open')
  const first = await s.sessions.next()
  const reopened = nextEvent(client, 'open')
  for (const ws of s.app.websocketServer.clients) ws.terminate()
  const info = await reopened
  t.equal(info.resumed, false)
  const second = await s.sessions.next()
  t.not(second.id, first.id, 'a new session')
  t.equal(first.endReason, 'timeout', 'the old one ended after its window')
  await closeAll(s.app, client)
})

t.test('resume: false asks for nothing; a server without resume answers with a hello that says so', async t => {
  const s = await startClientServer(() => {}, { websocket: { resume: false } })
  const plain = recordingWebSocket()
  const a = connect(s.base, { transport: 'websocket', WebSocket: plain.WebSocket, resume: false })
  await nextEvent(a, 'open')
  t.notMatch(plain.log.urls[0], /resume=/, 'no resume parameter')
  const asking = recordingWebSocket()
  const b = connect(s.base, { transport: 'websocket', WebSocket: asking.WebSocket })
  const info = await nextEvent(b, 'open')
  t.equal(info.resumed, false)
  t.same(asking.log.hellos, [{ a: ['webchannel.session', { id: null, resumed: false }] }], 'the hello without an id')
  await closeAll(s.app, a, b)
})

t.test('what the client sent that never arrived is sent again after the resume, once', async t => {
  const got: unknown[] = []
  const s = await startClientServer(app => { app.webchannel.on('in', (_ctx, n) => { got.push(n) }) })
  const client = connect(s.base, { transport: 'websocket', WebSocket: recordingWebSocket().WebSocket, reconnect: fastReconnect })
  await nextEvent(client, 'open')
  const session = await s.sessions.next()
  client.emit('in', 1)
  await until(() => got.length === 1 ? true : undefined, 'the first message')
  // The server stops reading, the client writes, and the connection is cut: those writes are lost.
  const [server] = [...s.app.websocketServer.clients]
  ;(server as unknown as { _socket: import('node:net').Socket })._socket.pause()
  client.emit('in', 2)
  client.emit('in', 3)
  await new Promise(resolve => setImmediate(resolve))
  const reopened = nextEvent(client, 'open')
  server.terminate()
  t.equal((await reopened).resumed, true)
  client.emit('in', 4)
  await until(() => got.length >= 4 ? true : undefined, '4 messages')
  t.same(got, [1, 2, 3, 4], 'the lost ones arrived after the resume, in order, once')
  t.equal(s.app.webchannel.sessions.get(session.id), session, 'on the same session')
  await closeAll(s.app, client)
})
