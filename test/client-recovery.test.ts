// Issue 12 points 6, 7 and 8 on the client: refusals end the client with a
// typed error (no fallback, no retry); the backoff keeps growing while
// sessions die young; a silent WebSocket peer is noticed by the heartbeat;
// auto mode goes back to WebSocket once it works again. Real servers and
// sockets on 127.0.0.1; runs without a global XMLHttpRequest (closure over fetch).
import t from 'tap'
import WebSocket, { WebSocketServer } from 'ws'
import { connect } from '../lib/client/index.js'
import { closeAll, nextEvent, recordEvents, recordingWebSocket, startClientServer } from './helpers/client-server.js'

t.test('auto: a 401 on the upgrade is REFUSED; WebChannel is not tried, nothing is retried', async t => {
  const seen: string[] = []
  const s = await startClientServer(() => {}, {}, app => {
    app.addHook('onRequest', async (req, reply) => {
      seen.push(req.method + ' ' + req.url.split('?')[0])
      return reply.code(401).send({ message: 'expired token' })
    })
  })
  const client = connect(s.base, { WebSocket, token: 'old' })
  t.teardown(() => closeAll(s.app, client))
  const events = recordEvents(client)
  const err = await nextEvent(client, 'error')
  t.match(err, { code: 'WEBCHANNEL_CLIENT_REFUSED', status: 401, transport: 'websocket' })
  t.equal(client.state, 'closed')
  t.same(events.filter(e => e[0] === 'reconnecting' || e[0] === 'open'), [])
  // The upgrade, then (Node's ws hides nothing, but the client probes only without a status) no WebChannel request.
  t.same(seen.filter(u => u !== 'GET /channel/ws'), [], 'no WebChannel handshake was made')
})

t.test('webchannel: a 403 on the handshake is REFUSED with its status', async t => {
  const s = await startClientServer(() => {}, {}, app => {
    app.addHook('onRequest', async (_req, reply) => reply.code(403).send({ message: 'banned' }))
  })
  const client = connect(s.base, { transport: 'webchannel' })
  t.teardown(() => closeAll(s.app, client))
  const err = await nextEvent(client, 'error')
  t.match(err, { code: 'WEBCHANNEL_CLIENT_REFUSED', status: 403, transport: 'webchannel' })
  t.equal(client.state, 'closed')
})

t.test('auto: a 503 on the upgrade is a failure, not a refusal: it falls back', async t => {
  const s = await startClientServer(app => { app.webchannel.on('echo', (_ctx, x) => x) }, {}, app => {
    app.addHook('onRequest', async (req, reply) => {
      if (req.url.startsWith('/channel/ws')) return reply.code(503).send({ message: 'busy' })
    })
  })
  const client = connect(s.base, { WebSocket })
  t.teardown(() => closeAll(s.app, client))
  t.match(await nextEvent(client, 'open'), { transport: 'webchannel' })
  t.equal(await client.request('echo', 'ok'), 'ok')
})

t.test('backoff grows while sessions die young, and resets after resetAfter of health', async t => {
  let kill = true
  const s = await startClientServer(() => {})
  // The server accepts every session and closes it at once while `kill` holds.
  ;(async () => {
    for (let i = 0; i < 20; i++) {
      const session = await s.sessions.next()
      if (kill) session.close(4002, 'go away')
    }
  })()
  const client = connect(s.base, { WebSocket, transport: 'websocket', heartbeat: false, reconnect: { initialDelay: 20, maxDelay: 1000, jitter: 0, resetAfter: 300 } })
  t.teardown(() => closeAll(s.app, client))
  const attempts: Array<{ attempt: number, delay: number }> = []
  const four = new Promise<void>(resolve => client.on('reconnecting', (info) => {
    attempts.push(info)
    if (attempts.length === 4) { kill = false; resolve() }
  }))
  await four
  t.same(attempts, [{ attempt: 1, delay: 20 }, { attempt: 2, delay: 40 }, { attempt: 3, delay: 80 }, { attempt: 4, delay: 160 }],
    'a handshake that succeeds does not reset the count when the session dies at once')
  await nextEvent(client, 'open')
  // Healthy for resetAfter: the next drop starts again from the first delay.
  await new Promise(resolve => setTimeout(resolve, 400))
  kill = true
  const session = [...s.app.webchannel.sessions.values()][0]
  const next = nextEvent(client, 'reconnecting')
  session.close(4002, 'once more')
  t.same(await next, { attempt: 1, delay: 20 })
})

t.test('full jitter by default: delays spread over [0, d]', async t => {
  const { backoffDefaults, backoffDelay } = await import('../lib/client/backoff.js')
  t.equal(backoffDefaults.jitter, 1)
  const many = Array.from({ length: 300 }, () => backoffDelay(backoffDefaults, 3))
  t.ok(many.every(d => d >= 0 && d <= 2000))
  t.ok(many.some(d => d < 500) && many.some(d => d > 1500), 'both ends are used')
})

t.test('heartbeat: a WebSocket peer that never answers is dropped and the client reconnects', async t => {
  // A real server that accepts the upgrade and then says nothing, ever (a dead NAT mapping looks the same).
  const silent = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  await new Promise(resolve => silent.once('listening', resolve))
  const received: string[] = []
  silent.on('connection', (ws) => ws.on('message', (d) => received.push(d.toString())))
  t.teardown(() => new Promise(resolve => { for (const c of silent.clients) c.terminate(); silent.close(resolve) }))
  const port = (silent.address() as { port: number }).port
  const client = connect(`http://127.0.0.1:${port}/channel`, { WebSocket, transport: 'websocket', heartbeat: { interval: 150, timeout: 150 }, reconnect: { initialDelay: 5000 } })
  t.teardown(() => client.close())
  await nextEvent(client, 'open')
  const started = Date.now()
  const closed = await nextEvent(client, 'close')
  t.match(closed, { code: 4000, transport: 'websocket', willReconnect: true })
  t.ok(Date.now() - started < 1500, 'noticed within interval + timeout (plus slack)')
  t.match(JSON.parse(received[0]), { a: ['connect'] }, 'the heartbeat is a request to the reserved name')
})

t.test('heartbeat: a live server answers and the connection stays', async t => {
  const s = await startClientServer(() => {})
  const { WebSocket: Recording, log } = recordingWebSocket()
  const client = connect(s.base, { WebSocket: Recording, transport: 'websocket', heartbeat: { interval: 100, timeout: 200 } })
  t.teardown(() => closeAll(s.app, client))
  const events = recordEvents(client)
  await nextEvent(client, 'open')
  // Bounded wait for three answered heartbeats.
  for (let i = 0; i < 100 && log.received.length < 3; i++) await new Promise(resolve => setTimeout(resolve, 20))
  t.ok(log.sent.length >= 3, 'heartbeats were sent')
  t.match(log.received[0], { e: { code: 'WEBCHANNEL_NO_HANDLER' } }, 'answered at once by the server, no app code')
  t.same(events.filter(e => e[0] === 'close'), [])
})

t.test('auto: after a fallback the client probes WebSocket and moves back to it', async t => {
  let wsBroken = true
  const s = await startClientServer(app => {
    app.webchannel.on('echo', (_ctx, x) => x)
    app.webchannel.channel('room')
  }, {}, app => {
    app.addHook('onRequest', async (req, reply) => {
      if (wsBroken && req.url.startsWith('/channel/ws')) return reply.code(502).send({ message: 'no upgrade here' })
    })
  })
  const client = connect(s.base, { WebSocket, probeWebSocket: 200 })
  t.teardown(async () => {
    client.close()
    // Node's fetch may leave a connection it opened for an aborted request, with no request on it;
    // app.close() would wait for the server's headers timeout (60 s) to drop it.
    const closing = s.app.close()
    s.app.server.closeAllConnections()
    await closing
  })
  t.match(await nextEvent(client, 'open'), { transport: 'webchannel' })
  await client.subscribe('room')
  const back = nextEvent(client, 'transport')
  wsBroken = false
  t.same(await back, { transport: 'websocket', previous: 'webchannel' })
  t.match(await nextEvent(client, 'open'), { transport: 'websocket', reconnected: true })
  t.equal(await client.request('echo', 'over ws'), 'over ws')
  t.equal(client.transport, 'websocket')
  const session = [...s.app.webchannel.sessions.values()].find(x => x.kind === 'websocket')
  t.ok(session?.channels.has('room'), 'the subscription moved to the WebSocket session')
})
