// The load generator: one process, apart from the server, speaking each
// server's wire protocol directly. Runs one scenario against one server and
// prints one JSON line; any protocol or correctness failure exits 1 loudly.
//   node bench/load/loadgen.mjs '{"scenario":"echo","proto":"wsw","target":{…},"control":1234,"params":{…}}'
import { counts, request } from './http.mjs'
import { SocketIoPollingClient, SocketIoWsClient } from './socketio.mjs'
import { WebChannelClient } from './webchannel.mjs'
import { WsWrapperClient } from './ws-wrapper.mjs'

const PROTOCOLS = {
  wsw: WsWrapperClient,
  'sio-ws': SocketIoWsClient,
  'sio-polling': SocketIoPollingClient,
  wc: WebChannelClient,
}

const job = JSON.parse(process.argv[2])
const Client = PROTOCOLS[job.proto]
if (Client === undefined) die(`unknown protocol ${job.proto}`)

function die (message) {
  process.stderr.write(`loadgen FAILED [${job.scenario} ${job.proto}]: ${message}\n`)
  process.exit(1)
}
const fail = (message) => die(message)

function nowMs () {
  return Number(process.hrtime.bigint()) / 1e6
}

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

async function stats (gc = false) {
  const r = await request(job.control, 'GET', `/stats${gc ? '?gc=1' : ''}`)
  return JSON.parse(r.body)
}

/** Resolve when `cond()` holds, polling every `every` ms; fail after `ms`. */
async function until (cond, ms, what, every = 5) {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) die(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(every)
  }
}

/** Open n clients, at most `parallel` handshakes at once, all within `ms`. */
async function connectAll (n, parallel, ms) {
  const clients = new Array(n)
  const deadline = Date.now() + ms
  let next = 0
  const worker = async () => {
    while (next < n) {
      if (Date.now() > deadline) die(`connecting ${n} clients took over ${ms} ms (${next} started)`)
      const i = next++
      try {
        clients[i] = await Client.open(job.target, fail)
      } catch (err) {
        die(`connect #${i}: ${err.message}`)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, n) }, worker))
  return clients
}

/** Percentiles of the first n samples (ms). */
function summarize (samples, n) {
  const s = samples.subarray(0, n).sort()
  const at = (q) => n === 0 ? null : s[Math.min(n - 1, Math.floor(q * n))]
  return { p50: at(0.5), p99: at(0.99), max: n === 0 ? null : s[n - 1] }
}

// ---- echo: closed loop, `clients` × `inflight` requests outstanding -------

async function echo ({ clients: n, inflight, warmMs, warmRequests = 0, durationMs, maxRequests = 5_000_000 }) {
  const PAD = 'abcdefghijklmnopqrstuvwxyz012345' // 32 chars: the echoed object is ~50 bytes of JSON
  const clients = await connectAll(n, 50, 30_000)
  const lat = new Float64Array(maxRequests)
  let recorded = 0
  let measuring = false
  let stopping = false
  let outstanding = 0
  let sent = 0
  let answered = 0
  for (const c of clients) {
    c.nextId = 0
    c.sentAt = new Map()
    c.onResponse = (id, d) => {
      const t0 = c.sentAt.get(id)
      if (t0 === undefined) return fail(`response to unknown request id ${id}`)
      if (d === null || typeof d !== 'object' || d.k !== id || d.p !== PAD) return fail(`response ${id} does not match its request: ${JSON.stringify(d)}`)
      c.sentAt.delete(id)
      outstanding--
      answered++
      if (measuring && recorded < maxRequests) lat[recorded++] = nowMs() - t0
      if (!stopping && sent < maxRequests * 2) send(c)
    }
  }
  const send = (c) => {
    const id = ++c.nextId
    c.sentAt.set(id, nowMs())
    outstanding++
    sent++
    c.request(id, { k: id, p: PAD })
  }
  for (const c of clients) for (let j = 0; j < inflight; j++) send(c)
  // Warm up by time and by count: the JIT (and, pinned, its compiler threads) must be done before we measure.
  await sleep(warmMs)
  const warmUntil = Date.now() + 6000
  const warm = () => answered >= warmRequests || Date.now() >= warmUntil
  while (!warm()) await sleep(5)
  const s0 = await stats()
  const h0 = { ...counts }
  const c0 = process.cpuUsage()
  measuring = true
  const t0 = nowMs()
  await sleep(durationMs)
  measuring = false
  const t1 = nowMs()
  const c1 = process.cpuUsage(c0)
  const h1 = { ...counts }
  const s1 = await stats()
  stopping = true
  // Every request sent must be answered: a lost response fails the run.
  await until(() => outstanding === 0, 15_000, `${outstanding} outstanding responses`)
  for (const c of clients) c.close()
  const seconds = (t1 - t0) / 1000
  const cpuUs = s1.cpu - s0.cpu
  return {
    clients: n,
    inflight,
    responses: recorded,
    seconds,
    rate: recorded / seconds,
    ...summarize(lat, recorded),
    cpuUs,
    cpuPerOpUs: recorded === 0 ? null : cpuUs / recorded,
    checked: sent,
    // Long-poll HTTP requests per echo (the stats request itself is one GET).
    getsPerOp: recorded === 0 ? null : (h1.GET - h0.GET - 1) / recorded,
    postsPerOp: recorded === 0 ? null : (h1.POST - h0.POST) / recorded,
    // The load generator's own CPU over the window: near 100 % means the rate is its ceiling, not the server's.
    clientBusy: (c1.user + c1.system) / 1000 / (t1 - t0),
  }
}

// ---- fan-out: `subscribers` on one channel, `messages` emitted by the server ---

async function fanout ({ subscribers: n, messages, size, interval, burst, stamp = 'burst' }) {
  const tc = nowMs()
  const clients = await connectAll(n, 100, 60_000)
  const ts = nowMs()
  let subscribedCount = 0
  for (const c of clients) c.subscribe().then(() => { subscribedCount++ })
  await until(() => subscribedCount === n, 30_000, `subscriptions (${subscribedCount} of ${n})`)
  const total = n * messages
  const lag = new Float64Array(total)
  let received = 0
  let firstSend = Infinity
  let lastRecv = 0
  for (const c of clients) {
    c.expect = 0
    c.onTick = (p) => {
      const now = nowMs()
      if (p === null || typeof p !== 'object' || p.q !== c.expect) return fail(`subscriber got message ${p?.q} but expected ${c.expect} (lost, duplicated or reordered)`)
      if (typeof p.p !== 'string' || JSON.stringify(p).length !== size) return fail(`message ${p.q} arrived altered (${JSON.stringify(p).length} bytes, expected ${size})`)
      c.expect++
      if (p.t < firstSend) firstSend = p.t
      lag[received++] = now - p.t
      lastRecv = now
    }
  }
  const tw = nowMs()
  await sleep(200)
  const s0 = await stats()
  const c0 = process.cpuUsage()
  const emitMs = messages / burst * interval
  const fired = request(job.control, 'GET', `/fanout?count=${messages}&size=${size}&interval=${interval}&burst=${burst}&stamp=${stamp}`)
  await until(() => received === total, emitMs + 60_000, `deliveries (${received} of ${total})`, 2)
  const c1 = process.cpuUsage(c0)
  const s1 = await stats()
  const emitted = JSON.parse((await fired).body)
  if (emitted.emitted !== messages) die(`server emitted ${emitted.emitted} of ${messages}`)
  for (const c of clients) if (c.expect !== messages) die(`a subscriber got ${c.expect} of ${messages}`)
  for (const c of clients) c.close()
  const seconds = (lastRecv - firstSend) / 1000
  const cpuUs = s1.cpu - s0.cpu
  const l = summarize(lag, received)
  return {
    subscribers: n,
    messages,
    size,
    deliveries: received,
    emitMs: emitted.ms,
    seconds,
    rate: received / seconds,
    p50: l.p50,
    p99: l.p99,
    max: l.max,
    cpuUs,
    cpuPerOpUs: cpuUs / received,
    // The load generator's own CPU while delivering: near 100 % means lag is its backlog, not the server's.
    clientBusy: (c1.user + c1.system) / 1000 / (lastRecv - firstSend),
    phasesMs: { connect: ts - tc, subscribe: tw - ts, deliver: lastRecv - firstSend },
  }
}

// ---- idle: memory per open connection or session ---------------------------

async function idle ({ connections: n, settleMs, snapshot }) {
  if (snapshot !== undefined) await request(job.control, 'GET', `/heapsnapshot?file=${encodeURIComponent(snapshot + '.before.heapsnapshot')}`)
  const s0 = await stats(true)
  const clients = await connectAll(n, 200, 120_000)
  // The server counts connections (or sessions) itself; wait until it sees them all.
  const deadline = Date.now() + 30_000
  for (;;) {
    const s = await stats()
    if (s.conns >= n) break
    if (Date.now() > deadline) die(`server counts ${s.conns} of ${n} connections`)
    await sleep(100)
  }
  await sleep(settleMs)
  const s1 = await stats(true)
  if (snapshot !== undefined) await request(job.control, 'GET', `/heapsnapshot?file=${encodeURIComponent(snapshot + '.after.heapsnapshot')}`)
  if (s1.conns !== n) die(`${n - s1.conns} of ${n} idle connections dropped by the server`)
  for (const c of clients) c.close()
  return {
    connections: n,
    rssPerConn: (s1.rss - s0.rss) / n,
    heapPerConn: (s1.heapUsed - s0.heapUsed) / n,
    rss0: s0.rss,
    rss1: s1.rss,
    heap0: s0.heapUsed,
    heap1: s1.heapUsed,
  }
}

const SCENARIOS = { echo, fanout, idle }

const run = SCENARIOS[job.scenario]
if (run === undefined) die(`unknown scenario ${job.scenario}`)
const hardLimit = setTimeout(() => die(`scenario exceeded its ${job.limitMs ?? 180_000} ms limit`), job.limitMs ?? 180_000)
hardLimit.unref()
const result = await run(job.params)
process.stdout.write(JSON.stringify(result) + '\n')
process.exit(0)
