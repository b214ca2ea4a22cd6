// The soak at CI size: 1,000 WebChannel sessions and 1,000 WebSocket
// connections opened and abandoned, plus 50 slow readers, against a server in
// its own process (bench/soak/server.ts). The server's own timeouts must free
// everything: no session or record, timers and sockets as at the baseline,
// heap after GC within 10 %. The full 10,000 run is `npm run soak`.
import t from 'tap'
import { mb, soak } from '../bench/soak/soak.mjs'

const report = await soak({
  sessions: 1000,
  slow: 50,
  batch: 500,
  warmup: 100,
  concurrency: 50,
  cleanupDeadline: 30_000,
  log: (line) => t.comment(line),
})
const { baseline, after } = report

t.test('every client did what it was told (nothing refused)', async t => {
  for (const [phase, e] of Object.entries(report.errors)) {
    t.same({ webchannel: e.webchannel, websocket: e.websocket, slow: e.slow }, { webchannel: 0, websocket: 0, slow: 0 }, `${phase}: ${e.first ?? 'no error'}`)
  }
})

t.test('the timeouts ended the sessions', async t => {
  t.equal(report.mutedNotCut, 0, 'every WebSocket that never answered a ping was cut by the server')
  // Abandoned WebChannel sessions and muted WebSockets end by timeout, cut ones with the TCP connection.
  t.ok((report.ended.timeout ?? 0) >= 1000, `${report.ended.timeout ?? 0} sessions ended by timeout`)
})

t.test('no session or connection record is left', async t => {
  t.ok(report.cleanedUp, `cleaned up within the deadline (${report.cleanupMs} ms)`)
  t.same(after.stats.sessions, { websocket: 0, webchannel: 0 })
  for (const [name, n] of Object.entries(after.stats.records)) t.equal(n, 0, name)
})

t.test('timers and sockets are back to the baseline', async t => {
  // Every Timeout, ref'd or not: the baseline holds Node's http connection check and nothing of ours.
  t.ok(after.timers <= baseline.timers, `timers: ${baseline.timers} at the baseline, ${after.timers} after`)
  t.ok(after.sockets <= baseline.sockets, `sockets: ${baseline.sockets} at the baseline, ${after.sockets} after`)
})

t.test('heap after GC returns within 10 % of the baseline', async t => {
  t.ok(report.heapGrowth <= 0.10, `${mb(baseline.heapUsed)} → ${mb(after.heapUsed)} (${(report.heapGrowth * 100).toFixed(1)} %); at the end of the load ${mb(report.peak.heapUsed)}`)
})

// A back channel whose client stops reading: once its session ended, the
// server kept the socket and the unsent chunk for as long as the client held
// the TCP connection, until ended back channels were cut after sessionTimeout.
t.test('unread back channels let go of their sockets once their sessions ended', async t => {
  const s = report.slowloris!
  t.equal(s.failed, 0, 'the slow readers connected')
  t.ok(s.sessionsGone, 'their sessions ended')
  t.ok(s.socketsFreed, `server sockets ${s.sockets} with ${s.readers} unread back channels (baseline ${baseline.sockets}), heap ${mb(s.heapUsed)}`)
})

// A streaming GET whose client hangs up while the app's async onRequest hook
// runs: the response had closed before the back channel listened for 'close',
// so the session kept a dead back channel and outlived sessionTimeout, until
// such GETs were ignored.
t.test('sessions whose client hung up during an async hook end within sessionTimeout', async t => {
  const h = report.hangups!
  t.equal(h.failed, 0, 'the clients hung up as planned')
  t.ok(h.sessionsGone, `${JSON.stringify(h.stats)}, ${h.timers} timers, ${h.waitedMs} ms after the hang-ups`)
})
