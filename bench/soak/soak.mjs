// The soak: open and abandon thousands of WebChannel sessions and WebSocket
// connections (plus slow readers that never read) against bench/soak/server.ts
// in a child process, let the server's timeouts clean up, and compare the
// server's heap after GC, timers, sockets and session records with a baseline.
// Used by bench/soak/run.mjs (npm run soak) and test/soak.test.ts.
import { fork } from 'node:child_process'
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import WebSocket from 'ws'

const serverPath = fileURLToPath(new URL('./server.ts', import.meta.url))
const PREFIX = '/channel'

// ---- the server process -----------------------------------------------------

/** Start the soak server; resolves with its port and an RPC `call(cmd, args)`. */
export function startServer ({ options = {}, startTimeout = 60_000 } = {}) {
  const env = { ...process.env, SOAK_OPTIONS: JSON.stringify(options) }
  // tap's loader and coverage flags are for the test process, not this one.
  delete env.NODE_OPTIONS
  // tap's processinfo puts its hooks back into every child it sees spawned, and
  // would record this one's coverage of lib/ as compiled by tsx: merged with
  // tap's own compile of the same files it scrambles the counts (the suite
  // measured 89.6 % of lib/ with it, 98.2 % without). This turns it off.
  env._TAPJS_PROCESSINFO_COVERAGE_ = '0'
  const child = fork(serverPath, [], {
    execArgv: ['--expose-gc', '--expose-internals', '--import', import.meta.resolve('tsx')],
    env,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const pending = new Map()
  let next = 1
  child.on('message', (m) => {
    const p = pending.get(m.id)
    if (p === undefined) return
    pending.delete(m.id)
    clearTimeout(p.timer)
    if (m.error !== undefined) p.reject(new Error(m.error))
    else p.resolve(m.result)
  })
  const exited = new Promise(resolve => child.once('exit', (code, signal) => {
    for (const p of pending.values()) { clearTimeout(p.timer); p.reject(new Error(`soak server exited (${code ?? signal})`)) }
    pending.clear()
    resolve()
  }))
  const call = (cmd, args = {}, timeoutMs = 60_000) => new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return reject(new Error('soak server is not running'))
    const id = next++
    const timer = setTimeout(() => { pending.delete(id); reject(new Error(`soak server did not answer ${cmd} within ${timeoutMs} ms`)) }, timeoutMs)
    pending.set(id, { resolve, reject, timer })
    child.send({ id, cmd, ...args })
  })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await call('exit', {}, 10_000).catch(() => {})
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(kill)
    }
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`soak server did not start within ${startTimeout} ms`)) }, startTimeout)
    child.once('message', (m) => {
      clearTimeout(timer)
      if (m.ready === true) resolve({ port: m.port, call, stop, child })
      else reject(new Error('unexpected first message from the soak server'))
    })
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`soak server exited with ${code} before it was ready`)) })
  })
}

// ---- raw clients --------------------------------------------------------------

const enc = (x) => encodeURIComponent(JSON.stringify(x))
const maps = (ofs, list) => `count=${list.length}&ofs=${ofs}` + list.map((m, i) => `&req${i}___data__=${enc(m)}`).join('')

function post (target, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: target.port, localAddress: target.localAddress, path, method: 'POST', agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c) => { text += c })
      res.on('end', () => resolve({ status: res.statusCode, body: text }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * A back-channel GET; resolves once its first bytes arrived (streaming) or,
 * with `early`, once the request is written. `headers['x-soak-delay']` makes
 * the server's async hook take that long.
 */
function backChannel (target, sid, aid, ci, early = false, headers = {}) {
  return new Promise((resolve, reject) => {
    const path = `${PREFIX}?VER=8&RID=rpc&SID=${sid}&AID=${aid}&CI=${ci}&TYPE=xmlhttp&zx=z&t=1`
    const req = http.request({ host: '127.0.0.1', port: target.port, localAddress: target.localAddress, path, agent: false, headers }, (res) => {
      if (res.statusCode !== 200) {
        let text = ''
        res.on('data', (c) => { text += c })
        res.on('end', () => reject(new Error(`back channel: HTTP ${res.statusCode} ${text.slice(0, 100)}`)))
        return
      }
      res.once('data', () => resolve({ req, res }))
    })
    req.on('error', (err) => { if (!early) reject(err) })
    if (early) req.on('finish', () => setImmediate(() => resolve({ req, res: null })))
    req.end()
  })
}

/** The first chunk of a WebChannel reply: [[id, payload], ...]. */
function arraysOf (body) {
  const nl = body.indexOf('\n')
  return JSON.parse(body.slice(nl + 1, nl + 1 + Number(body.slice(0, nl))))
}

/** A handshake carrying a subscribe and a request, as a client's open() does. */
async function handshake (target, i) {
  const body = maps(0, [{ i: 1, a: ['subscribe', `room:${i % 64}`] }, { i: 2, a: ['echo', 'hello'] }])
  const r = await post(target, `${PREFIX}?VER=8&RID=${100 + i}&CVER=22&zx=a&t=1`, body)
  if (r.status !== 200) throw new Error(`handshake: HTTP ${r.status} ${r.body.slice(0, 100)}`)
  const arrays = arraysOf(r.body)
  return { sid: String(arrays[0][1][1]), aid: arrays[arrays.length - 1][0] }
}

/**
 * One WebChannel session, abandoned five ways in turn: after the handshake;
 * after its streaming back channel started (then cut); with a long poll cut
 * as soon as it is sent; after a forward POST; with a streaming back channel
 * cut as soon as it is sent. Never a terminate.
 */
export async function abandonWebChannel (target, i) {
  const { sid, aid } = await handshake(target, i)
  switch (i % 5) {
    case 0: return
    case 1: {
      const { req } = await backChannel(target, sid, aid, 0)
      req.destroy()
      return
    }
    case 2: {
      const { req } = await backChannel(target, sid, aid, 1, true)
      req.destroy()
      return
    }
    case 3: {
      const r = await post(target, `${PREFIX}?VER=8&SID=${sid}&RID=${200 + i}&AID=${aid}&zx=b&t=1`, maps(2, [{ i: 3, a: ['echo', 'again'] }]))
      if (r.status !== 200) throw new Error(`forward: HTTP ${r.status} ${r.body.slice(0, 100)}`)
      return
    }
    case 4: {
      const { req } = await backChannel(target, sid, aid, 0, true)
      req.destroy()
    }
  }
}

function openWs (target, options = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${target.port}${PREFIX}/ws`, { localAddress: target.localAddress, perMessageDeflate: false, ...options })
    ws.once('open', () => resolve(ws))
    ws.once('error', reject)
  })
}

/** Send a request and wait for its answer (so the session surely exists on the server). */
function wsRequest (ws, id, args) {
  return new Promise((resolve, reject) => {
    const onMessage = (data) => {
      const m = JSON.parse(data.toString())
      if (m.i === id) { ws.off('message', onMessage); resolve(m) }
    }
    ws.on('message', onMessage)
    ws.once('close', () => reject(new Error('closed before the answer')))
    ws.send(JSON.stringify({ i: id, a: args }))
  })
}

/**
 * One WebSocket session, abandoned two ways in turn: the TCP connection cut
 * without a close frame; or left open with a client that never answers a ping
 * (the server's pongTimeout must cut it; resolves once it did).
 */
export async function abandonWebSocket (target, i, cutDeadline) {
  const mute = i % 2 === 1
  const ws = await openWs(target, mute ? { autoPong: false } : {})
  ws.on('error', () => {})
  await wsRequest(ws, 1, ['subscribe', `room:${i % 64}`])
  if (!mute) {
    ws.terminate()
    return { cut: Promise.resolve(true) }
  }
  // Bounded: a server that never cuts it is reported, and the socket freed here.
  const cut = new Promise(resolve => {
    const timer = setTimeout(() => { ws.terminate(); resolve(false) }, cutDeadline)
    ws.once('close', () => { clearTimeout(timer); resolve(true) })
  })
  return { cut }
}

/** A WebSocket client that stops reading: the server's fan-out piles up for it. */
export async function slowWebSocket (target) {
  const ws = await openWs(target)
  ws.on('error', () => {})
  await wsRequest(ws, 1, ['echo', 'ready'])
  ws.pause()
  return { close: () => ws.terminate() }
}

/** A WebChannel session whose streaming back channel is never read after its first bytes. */
export async function slowWebChannel (target, i) {
  const { sid, aid } = await handshake(target, i)
  const { req, res } = await backChannel(target, sid, aid, 0)
  res.pause()
  res.socket.pause()
  res.on('error', () => {})
  req.on('error', () => {})
  return { close: () => req.destroy() }
}

// ---- the run -------------------------------------------------------------------

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Run `n` tasks, `width` at a time; errors are counted, not thrown. `late`:
 * a WebChannel client that came back after sessionTimeout (a slow load
 * generator) found its session expired, which is still an abandoned session.
 */
async function inBatches (n, width, task) {
  let failed = 0
  let late = 0
  let firstError = null
  const results = []
  for (let start = 0; start < n; start += width) {
    const settled = await Promise.allSettled(Array.from({ length: Math.min(width, n - start) }, (_, k) => task(start + k)))
    for (const s of settled) {
      if (s.status === 'fulfilled') results.push(s.value)
      else if (/Unknown SID/.test(s.reason?.message)) late++
      else { failed++; firstError ??= s.reason }
    }
  }
  return { failed, late, firstError, results }
}

/** Poll the server's stats until `done(snapshot)` or the deadline; returns the last snapshot and the time taken. */
export async function waitFor (server, done, deadlineMs, everyMs = 200) {
  const started = Date.now()
  let snap = await server.call('stats')
  while (!done(snap) && Date.now() - started < deadlineMs) {
    await sleep(everyMs)
    snap = await server.call('stats')
  }
  return { snap, ms: Date.now() - started, ok: done(snap) }
}

/**
 * Nothing left beyond `base`: no session or record, and no more sockets or
 * timers. Waiting for the timers too lets short ones run out (a 1013 close
 * arms a 1 s terminate that outlives the socket); one that stays fails the deadline.
 */
const idle = (base) => (s) => s.stats.sessions.websocket === 0 && s.stats.sessions.webchannel === 0 &&
  Object.values(s.stats.records).every(n => n === 0) &&
  (s.resources.TCPSocketWrap ?? 0) <= (base.resources.TCPSocketWrap ?? 0) && s.timers <= base.timers

/**
 * Open `count` slow readers (half WebSocket, half WebChannel), make the server
 * fan out until their sessions are gone (bounded in rounds), and return the
 * clients, still connected and never read.
 */
async function slowReaders (server, targets, count, fanout) {
  const ws = await inBatches(Math.ceil(count / 2), 100, (k) => slowWebSocket(targets(k)))
  const wc = await inBatches(Math.floor(count / 2), 100, (k) => slowWebChannel(targets(k), k))
  let rounds = 0
  let s = await server.call('stats')
  while ((s.stats.sessions.websocket > 0 || s.stats.sessions.webchannel > 0) && rounds < fanout.maxRounds) {
    rounds++
    await server.call('fanout', { count: fanout.count, size: fanout.size })
    await sleep(fanout.everyMs)
    s = await server.call('stats')
  }
  return { clients: [...ws.results, ...wc.results], failed: ws.failed + wc.failed, firstError: ws.firstError ?? wc.firstError, rounds }
}

/**
 * Slowloris on the back channel: `readers` WebChannel clients stop reading,
 * one message of `size` bytes is fanned out (more than loopback's socket
 * buffers take), and their sessions end. Then: does the server let go of the
 * sockets, and of the unsent bytes, while the clients hold the connections?
 */
async function slowloris (server, targets, base, { readers, size, deadline, grace = 10_000 }) {
  const wc = await inBatches(readers, readers, (k) => slowWebChannel(targets(k), 100_000 + k))
  await server.call('fanout', { count: 1, size })
  const gone = await waitFor(server, (s) => s.stats.sessions.webchannel === 0 && Object.values(s.stats.records).every(n => n === 0), deadline)
  // Once the sessions are gone, nothing should need longer than a write timeout.
  const freed = await waitFor(server, (s) => (s.resources.TCPSocketWrap ?? 0) <= base.sockets, grace)
  const held = pick(await server.call('probe'))
  for (const c of wc.results) c.close()
  return { readers: wc.results.length, failed: wc.failed, size, sessionsGone: gone.ok, socketsFreed: freed.ok, waitedMs: gone.ms + freed.ms, ...held }
}

/**
 * Clients that hang up while the app's async hook runs: a streaming GET and a
 * WebSocket upgrade, each cut `cutAfter` ms into a `delay` ms hook. Their
 * sessions must be gone within sessionTimeout like any abandoned one.
 */
async function hangups (server, targets, { count, delay, cutAfter, deadline }) {
  const headers = { 'x-soak-delay': String(delay) }
  const cutSoon = (destroy) => new Promise(resolve => setTimeout(() => { destroy(); resolve() }, cutAfter))
  const wc = await inBatches(count, count, async (k) => {
    const { sid, aid } = await handshake(targets(k), 200_000 + k)
    const { req } = await backChannel(targets(k), sid, aid, 0, true, headers)
    await cutSoon(() => req.destroy())
  })
  const ws = await inBatches(count, count, async (k) => {
    const socket = new WebSocket(`ws://127.0.0.1:${targets(k).port}${PREFIX}/ws`, { localAddress: targets(k).localAddress, headers })
    socket.on('error', () => {})
    await cutSoon(() => socket.terminate())
  })
  // Let the hooks finish and the handlers run before judging.
  await sleep(delay)
  const gone = await waitFor(server, (s) => s.stats.sessions.webchannel === 0 && s.stats.sessions.websocket === 0 && Object.values(s.stats.records).every(n => n === 0), deadline)
  return { count, failed: wc.failed + ws.failed, sessionsGone: gone.ok, waitedMs: gone.ms, ...pick(gone.snap) }
}

/**
 * The whole soak. Returns the figures; throws when the server cannot be
 * started, stops answering, or the warm-up is not cleaned up (no baseline).
 */
export async function soak ({
  sessions = 10_000,
  slow = 300,
  batch = 500,
  // Clients opening at once: a WebChannel client that takes longer than
  // sessionTimeout between its handshake and its GET finds its session gone.
  concurrency = 100,
  addresses = 8,
  warmup = 200,
  serverOptions = {},
  cleanupDeadline = 60_000,
  // null: skip the slowloris phase.
  slowlorisReaders = { readers: 5, size: 6 * 1024 * 1024 },
  // null: skip the hang-up phase.
  hangupClients = { count: 10, delay: 300, cutAfter: 50 },
  log = () => {},
} = {}) {
  const started = Date.now()
  const server = await startServer({ options: serverOptions })
  // Loopback source addresses in turn, ~28k ephemeral ports each.
  const targets = (k) => ({ port: server.port, localAddress: `127.0.0.${2 + (k % addresses)}` })
  const mutedCut = (serverOptions.websocket?.pingInterval ?? 500) + (serverOptions.websocket?.pongTimeout ?? 500)
  // 2.5 MiB a round: past maxBufferedBytes at once, past maxPendingBytes (8 MiB) within a second.
  const fanout = { count: 40, size: 64 * 1024, everyMs: 250, maxRounds: 40 }
  const report = { sessions, slow, batch, concurrency, addresses, errors: {} }
  try {
    // The server before any traffic: the warm-up must get back to it.
    const initial = await server.call('stats')
    // Warm up every path (JIT, lazily built caches, pools) before the baseline.
    const cycle = async (n, slowN, label) => {
      const cuts = []
      const wc = await inBatches(n, concurrency, (k) => abandonWebChannel(targets(k), k))
      const ws = await inBatches(n, concurrency, async (k) => { const r = await abandonWebSocket(targets(k), k, mutedCut * 10); cuts.push(r.cut) })
      const slowOnes = await slowReaders(server, targets, slowN, fanout)
      report.errors[label] = { webchannel: wc.failed, websocket: ws.failed, slow: slowOnes.failed, late: wc.late, first: String(wc.firstError ?? ws.firstError ?? slowOnes.firstError ?? '') || undefined }
      return { cuts, slowOnes }
    }
    const warm = await cycle(warmup, Math.min(slow, 20), 'warmup')
    for (const c of warm.slowOnes.clients) c.close()
    await Promise.all(warm.cuts)
    // A baseline with sessions still live would make every later check pass: stop here.
    const warmed = await waitFor(server, idle(initial), cleanupDeadline)
    if (!warmed.ok) throw new Error(`the warm-up was not cleaned up within ${cleanupDeadline} ms: ${JSON.stringify(warmed.snap.stats)}, ${warmed.snap.timers} timers`)
    const baseline = await server.call('probe')
    report.baseline = pick(baseline)
    log(`baseline: heap ${mb(baseline.heapUsed)}, timers ${baseline.timers}, sockets ${baseline.resources.TCPSocketWrap ?? 0}`)

    // The load: abandoned WebChannel sessions and WebSocket connections, in batches.
    const loadStarted = Date.now()
    const peak = { heapUsed: 0, sessions: 0, timers: 0 }
    const sample = async () => {
      const s = await server.call('stats')
      const live = s.stats.sessions.websocket + s.stats.sessions.webchannel
      peak.heapUsed = Math.max(peak.heapUsed, s.heapUsed)
      peak.sessions = Math.max(peak.sessions, live)
      peak.timers = Math.max(peak.timers, s.timers)
    }
    const cuts = []
    let wcFailed = 0
    let wsFailed = 0
    let late = 0
    let firstError = null
    for (let start = 0; start < sessions; start += batch) {
      const n = Math.min(batch, sessions - start)
      const wc = await inBatches(n, concurrency, (k) => abandonWebChannel(targets(start + k), start + k))
      const ws = await inBatches(n, concurrency, async (k) => { const r = await abandonWebSocket(targets(start + k), start + k, mutedCut * 10); cuts.push(r.cut) })
      wcFailed += wc.failed
      wsFailed += ws.failed
      late += wc.late
      firstError ??= wc.firstError ?? ws.firstError
      await sample()
      log(`  ${start + n} + ${start + n} opened and abandoned; live ${peak.sessions} at most so far`)
    }
    report.loadMs = Date.now() - loadStarted
    const atPeak = await server.call('probe')
    report.peak = { ...pick(atPeak), sampledHeapUsed: Math.max(peak.heapUsed, atPeak.heapUsed), sampledSessions: peak.sessions, sampledTimers: peak.timers }

    const slowStarted = Date.now()
    const slowOnes = await slowReaders(server, targets, slow, fanout)
    report.errors.load = { webchannel: wcFailed, websocket: wsFailed, slow: slowOnes.failed, late, first: firstError === null && slowOnes.firstError === null ? undefined : String(firstError ?? slowOnes.firstError) }
    report.slowRounds = slowOnes.rounds
    // The slow readers' sessions are over; their clients still hold the TCP connections, never reading.
    const slowHeld = await waitFor(server, (s) => s.stats.sessions.websocket === 0 && s.stats.sessions.webchannel === 0 && Object.values(s.stats.records).every(n => n === 0), cleanupDeadline)
    report.slowHeld = { ms: Date.now() - slowStarted, sessionsGone: slowHeld.ok, ...pick(await server.call('probe')) }
    log(`slow readers: ${slowOnes.clients.length} still connected, server sockets ${report.slowHeld.sockets}, heap ${mb(report.slowHeld.heapUsed)}`)

    // Muted WebSockets: every one must have been cut by the server's pong timeout.
    const cutResults = await Promise.all(cuts)
    report.mutedNotCut = cutResults.filter(x => !x).length
    for (const c of slowOnes.clients) c.close()

    const cleanup = await waitFor(server, idle(baseline), cleanupDeadline)
    report.cleanupMs = cleanup.ms
    report.cleanedUp = cleanup.ok
    const after = await server.call('probe')
    report.after = pick(after)
    report.heapGrowth = (after.heapUsed - baseline.heapUsed) / baseline.heapUsed
    report.ended = after.ended
    report.totalMs = Date.now() - started
    log(`after: heap ${mb(after.heapUsed)} (${(report.heapGrowth * 100).toFixed(1)} % vs baseline), timers ${after.timers}, sockets ${after.resources.TCPSocketWrap ?? 0}, stats ${JSON.stringify(after.stats)}`)
    if (slowlorisReaders !== null) {
      const deadline = 3 * (serverOptions.webchannel?.sessionTimeout ?? 2000) + 5000
      report.slowloris = await slowloris(server, targets, report.after, { ...slowlorisReaders, deadline })
      log(`slowloris: ${report.slowloris.readers} unread back channels, sessions gone ${report.slowloris.sessionsGone}, server sockets ${report.slowloris.sockets} (baseline ${baseline.resources.TCPSocketWrap ?? 0}), heap ${mb(report.slowloris.heapUsed)}`)
    }
    // Last: what it leaves behind would outlast any later check.
    if (hangupClients !== null) {
      const deadline = (serverOptions.webchannel?.sessionTimeout ?? 2000) + 5000
      report.hangups = await hangups(server, targets, { ...hangupClients, deadline })
      log(`hang-ups during an async hook: ${report.hangups.count} + ${report.hangups.count}, sessions gone ${report.hangups.sessionsGone} after ${report.hangups.waitedMs} ms, stats ${JSON.stringify(report.hangups.stats)}, timers ${report.hangups.timers}`)
    }
    return report
  } finally {
    await server.stop()
  }
}

function pick (s) {
  return { heapUsed: s.heapUsed, external: s.external, rss: s.rss, timers: s.timers, refTimers: s.resources.Timeout ?? 0, sockets: s.resources.TCPSocketWrap ?? 0, stats: s.stats, ended: s.ended }
}

export const mb = (n) => (n / 1024 / 1024).toFixed(1) + ' MB'
