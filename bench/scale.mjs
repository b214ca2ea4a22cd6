// `npm run bench -- --scale`: many connections on one server process.
// For raw ws and for ours: open WebSocket connections in steps (1k, 5k, 20k,
// 50k, each capped by what the per-process open-file limit allows), and at each
// step measure RSS and heap per connection (after gc), idle CPU over a window
// (the top step's window is longer than ours' default 30 s keepalive interval,
// so one ping sweep is in it), the time to accept the step's new connections,
// and one broadcast to all (time until the last client has it, server CPU).
// Then ours with 5,000 WebChannel sessions (parked streaming back channels),
// and a broadcast to those plus as many WebSocket connections as still fit.
// Clients come from separate load-generator processes (bench/load/scale-worker.mjs),
// each with its own loopback source address (127.0.0.2 and up) and ≤ 5,000
// clients. Writes bench/results/scale.{json,md}. Bounded: under 10 minutes.
import { fork, spawnSync } from 'node:child_process'
import { readdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildOurs, machineInfo } from './harness/build.mjs'
import { startServer, stopServer } from './harness/server-process.mjs'
import { request } from './load/http.mjs'
import { renderScale } from './harness/scale-markdown.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const resultsDir = join(here, 'results')
const started = Date.now()
const LIMIT_MS = 9.5 * 60_000
const log = (msg) => process.stderr.write(`[scale ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${msg}\n`)
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))
const nowMs = () => Number(process.hrtime.bigint()) / 1e6
const sh = (cmd) => spawnSync('sh', ['-c', cmd], { encoding: 'utf8' }).stdout.trim()
const pin = spawnSync('taskset', ['-c', '0', 'true']).status === 0

// --quick: a smoke run of the machinery (small counts, short windows; figures not comparable).
const quick = process.argv.includes('--quick')
const PER_WORKER = quick ? 500 : 5000
const REQUESTED = quick ? [200, 1000] : [1000, 5000, 20_000, 50_000]
const WC_SESSIONS = quick ? 300 : 5000
const IDLE_MS = quick ? 1000 : 10_000
// Longer than the default keepalive (websocket.pingInterval and
// webchannel.keepaliveInterval, 30 s): the window holds one full sweep.
const IDLE_TOP_MS = quick ? 2000 : 31_000
const BROADCASTS = 3

const limits = {
  nofileSoft: Number(sh('ulimit -Sn')),
  nofileHard: Number(sh('ulimit -Hn')),
  somaxconn: sh('cat /proc/sys/net/core/somaxconn'),
  ipLocalPortRange: sh('cat /proc/sys/net/ipv4/ip_local_port_range').replace(/\s+/g, '–'),
  tcpMaxSynBacklog: sh('cat /proc/sys/net/ipv4/tcp_max_syn_backlog'),
}
// The server holds one descriptor per connection, plus its own (listeners, control, stdio, epoll).
const CAP = quick ? 1200 : Math.floor((limits.nofileHard - 500) / 500) * 500
const levels = [...new Set(REQUESTED.map(n => Math.min(n, CAP)))]
const hardKill = setTimeout(() => { log(`over ${LIMIT_MS / 1000} s: giving up`); process.exit(2) }, LIMIT_MS)
hardKill.unref()

let nextAddress = 2
/** The server process under test, killed if the run fails. */
let currentServer = null
const workers = []

function spawnWorker (proto, target, count) {
  const localAddress = `127.0.0.${nextAddress++}`
  const args = [JSON.stringify({ proto, target, count, localAddress, parallel: 64 })]
  const child = pin
    ? fork(join(here, 'load', 'scale-worker.mjs'), args, { execPath: 'taskset', execArgv: ['-c', '1', process.execPath], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : fork(join(here, 'load', 'scale-worker.mjs'), args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const w = { child, count, proto, localAddress }
  child.on('exit', (code) => {
    if (code === 0 || w.exiting) return
    log(`worker ${localAddress} exited with ${code}`)
    for (const other of workers) other.child.kill('SIGKILL')
    currentServer?.child.kill('SIGKILL')
    process.exit(1)
  })
  workers.push(w)
  return w
}

/** The next IPC message of `cmd` from a worker (bounded). */
function next (w, cmd, ms = 180_000) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`worker ${w.localAddress}: no ${cmd} in ${ms} ms`)), ms)
    const on = (m) => {
      if (m.cmd !== cmd) return
      clearTimeout(t)
      w.child.off('message', on)
      resolve(m)
    }
    w.child.on('message', on)
  })
}

async function stats (proc, gc = false) {
  return JSON.parse((await request(proc.control, 'GET', `/stats${gc ? '?gc=1' : ''}`)).body)
}

/** Open `count` more clients over fresh workers; resolves with the time the slowest worker took. */
async function grow (proc, proto, target, count) {
  const ws = []
  for (let left = count; left > 0; left -= PER_WORKER) ws.push(spawnWorker(proto, target, Math.min(PER_WORKER, left)))
  await Promise.all(ws.map(w => next(w, 'ready', 20_000)))
  const t0 = nowMs()
  const done = await Promise.all(ws.map(w => { w.child.send({ cmd: 'connect' }); return next(w, 'connect') }))
  const ms = Math.max(...done.map(d => d.connectMs))
  log(`  +${count} ${proto} clients in ${(nowMs() - t0).toFixed(0)} ms (connect ${ms.toFixed(0)} ms, subscribe ${Math.max(...done.map(d => d.subscribeMs)).toFixed(0)} ms)`)
  return { acceptMs: ms, acceptPerSecond: count / (ms / 1000) }
}

async function broadcastOnce (proc) {
  await Promise.all(workers.map(w => { w.child.send({ cmd: 'arm', q: 0 }); return next(w, 'armed', 10_000) }))
  const s0 = await stats(proc)
  const got = Promise.all(workers.map(w => next(w, 'broadcast', 70_000)))
  await request(proc.control, 'GET', '/fanout?count=1&size=100&interval=0&burst=1&stamp=message')
  const r = await got
  const s1 = await stats(proc)
  return { ms: Math.max(...r.map(x => x.lastMs)), cpuMs: (s1.cpu - s0.cpu) / 1000, received: r.reduce((a, x) => a + x.received, 0) }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function measure (proc, base, n, idleMs) {
  const deadline = Date.now() + 30_000
  for (;;) {
    const s = await stats(proc)
    if (s.conns >= n) break
    if (Date.now() > deadline) throw new Error(`server counts ${s.conns} of ${n}`)
    await sleep(100)
  }
  await sleep(500)
  const m = await stats(proc, true)
  const c0 = await stats(proc)
  await sleep(idleMs)
  const c1 = await stats(proc)
  const b = []
  for (let i = 0; i < BROADCASTS; i++) {
    b.push(await broadcastOnce(proc))
    await sleep(300)
  }
  if (b.some(x => x.received !== n)) throw new Error(`a broadcast reached ${b.map(x => x.received)} of ${n}`)
  return {
    n,
    rssPerConn: (m.rss - base.rss) / n,
    heapPerConn: (m.heapUsed - base.heapUsed) / n,
    idleCpuPct: (c1.cpu - c0.cpu) / 1000 / idleMs * 100,
    idleMs,
    broadcastMs: median(b.map(x => x.ms)),
    broadcastCpuMs: median(b.map(x => x.cpuMs)),
    broadcasts: b,
    loadavg: Math.round(loadavg()[0] * 100) / 100,
  }
}

async function stopWorkers () {
  for (const w of workers.splice(0)) {
    w.exiting = true
    w.child.send({ cmd: 'exit' })
  }
  await sleep(500)
}

/** Descriptors the server process holds now (each WebChannel session may hold two: its GET and an idle keep-alive socket). */
function fdsOf (proc) {
  return readdirSync(`/proc/${proc.child.pid}/fd`).length
}

async function wsLevels (server, scripts) {
  const proc = currentServer = await startServer(server, scripts, { pin })
  const out = []
  try {
    const base = await stats(proc, true)
    let have = 0
    for (const n of levels) {
      const acc = await grow(proc, 'wsw', { port: proc.port, ...server.target }, n - have)
      have = n
      const r = { ...await measure(proc, base, n, n === levels.at(-1) ? IDLE_TOP_MS : IDLE_MS), step: n - (out.at(-1)?.n ?? 0), ...acc }
      log(`  ${server.label} ${n}: ${fmtRow(r)}`)
      out.push(r)
    }
  } finally {
    await stopWorkers()
    await stopServer(proc)
  }
  return out
}

async function webchannel (server, scripts) {
  const proc = currentServer = await startServer(server, scripts, { pin })
  const out = {}
  try {
    const base = await stats(proc, true)
    const acc = await grow(proc, 'wc', { port: proc.port, base: '/channel', key: '__data__', streaming: true }, WC_SESSIONS)
    out.sessions = { ...await measure(proc, base, WC_SESSIONS, IDLE_TOP_MS), ...acc }
    log(`  WebChannel ${WC_SESSIONS}: ${fmtRow(out.sessions)}`)
    // Then as many WebSocket connections as still fit beside them: a broadcast to all.
    // The forward POSTs' keep-alive sockets count too: fill up to the cap by descriptors, not by sessions.
    const fds = fdsOf(proc)
    const ws = Math.floor((CAP - fds) / 500) * 500
    out.fdsWithSessions = fds
    const acc2 = await grow(proc, 'wsw', { port: proc.port, path: '/channel/ws' }, ws)
    out.mixed = { ...await measure(proc, base, WC_SESSIONS + ws, IDLE_MS), ...acc2, websocket: ws, webchannel: WC_SESSIONS }
    log(`  mixed ${ws} WS + ${WC_SESSIONS} WC: ${fmtRow(out.mixed)}`)
  } finally {
    await stopWorkers()
    await stopServer(proc)
  }
  return out
}

function fmtRow (r) {
  return `RSS/conn ${(r.rssPerConn / 1024).toFixed(1)} KiB, heap/conn ${(r.heapPerConn / 1024).toFixed(1)} KiB, idle CPU ${r.idleCpuPct.toFixed(2)} %, ` +
    `accept ${r.acceptMs.toFixed(0)} ms (${r.acceptPerSecond.toFixed(0)}/s), broadcast ${r.broadcastMs.toFixed(1)} ms / ${r.broadcastCpuMs.toFixed(1)} ms CPU, load ${r.loadavg}`
}

log(`limits: ${JSON.stringify(limits)}; levels ${levels.join(', ')} (cap ${CAP} = hard nofile − 500)`)
const oursScript = await buildOurs(join(resultsDir, '.build'))
const scripts = { ours: oursScript }
const SERVERS = {
  ws: { label: 'ws (raw)', script: 'servers/ws.mjs', target: { path: '/ws' } },
  ours: { label: 'ours (WebSocket)', script: 'ours', target: { path: '/channel/ws' } },
}
const results = { ws: await wsLevels(SERVERS.ws, scripts) }
results.ours = await wsLevels(SERVERS.ours, scripts)
results.oursWebChannel = await webchannel({ label: 'ours (WebChannel)', script: 'ours' }, scripts)

const report = {
  generatedAt: new Date().toISOString(),
  elapsedSeconds: Math.round((Date.now() - started) / 1000),
  machine: machineInfo(),
  pinned: pin,
  limits,
  requested: REQUESTED,
  levels,
  cap: CAP,
  perWorker: PER_WORKER,
  broadcasts: BROADCASTS,
  results,
}
const outBase = quick ? 'scale-quick' : 'scale'
writeFileSync(join(resultsDir, `${outBase}.json`), JSON.stringify(report, null, 2) + '\n')
const md = renderScale(report)
writeFileSync(join(resultsDir, `${outBase}.md`), md)
process.stdout.write(md)
log(`done in ${report.elapsedSeconds}s; wrote bench/results/${outBase}.{json,md}`)
process.exit(0)
