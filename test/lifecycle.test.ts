import t from 'tap'
import { startApp } from './helpers/app.js'
import { EndLog } from './helpers/events.js'
import { connectWs, refusedUpgrade } from './helpers/ws-client.js'

t.test('app.close() closes every session with 1001 and reports reason shutdown', async t => {
  const ended = new EndLog()
  const s = await startApp({ onSessionEnd: ended.hook })
  const clients = await Promise.all([1, 2, 3].map(() => connectWs(s.wsUrl)))
  await s.app.close()
  for (const c of clients) t.same(await c.closed, [1001, 'Server shutting down'])
  const ends = await ended.count(3)
  t.same(ends.map(e => e.reason), ['shutdown', 'shutdown', 'shutdown'])
})

t.test('the app chooses the close code and reason', async t => {
  const s = await startApp({ closeCode: 1012, closeReason: 'Restarting, come back soon' })
  const c = await connectWs(s.wsUrl)
  await s.app.close()
  t.same(await c.closed, [1012, 'Restarting, come back soon'])
})

t.test('handlers in flight answer before the close; new sessions are refused meanwhile', async t => {
  let release!: () => void
  let started!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  const inHandler = new Promise<void>(resolve => { started = resolve })
  const s = await startApp({ shutdownTimeout: 10_000 }, app => {
    app.webchannel.on('slow', async () => { started(); await gate; return 'finished' })
  })
  const c = await connectWs(s.wsUrl)
  const answer = c.wrapper.request('slow')
  await inHandler
  const closing = s.app.close()
  const refused = await refusedUpgrade(s.wsUrl)
  // Fastify may already have stopped listening (connection refused) or answer 503.
  t.ok(refused.statusCode === 503 || refused.statusCode === 0, 'no new sessions while closing')
  release()
  t.equal(await answer, 'finished', 'the response went out before the close frame')
  await closing
  t.same(await c.closed, [1001, 'Server shutting down'])
})

t.test('close never hangs: stuck handlers and deaf peers are cut after shutdownTimeout', async t => {
  const ended = new EndLog()
  const s = await startApp({ shutdownTimeout: 300, onSessionEnd: ended.hook }, app => {
    app.webchannel.on('forever', () => new Promise(() => {}))
  })
  const stuck = await connectWs(s.wsUrl)
  const deaf = await connectWs(s.wsUrl)
  stuck.wrapper.request('forever').catch(() => {})
  ;(deaf.ws as any)._socket.pause()
  const t0 = Date.now()
  await s.app.close()
  t.ok(Date.now() - t0 < 5000, 'close finished (bounded by the shutdown timeouts)')
  const ends = await ended.count(2)
  t.same(ends.map(e => e.reason), ['shutdown', 'shutdown'])
  t.same(await stuck.closed, [1001, 'Server shutting down'])
  deaf.ws.terminate()
})
