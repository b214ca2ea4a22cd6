// The control side of every bench server: a second HTTP listener, apart from
// the server under test so it never touches its routes or hooks. The load
// generator reads the server's own CPU and memory here and triggers fan-out.
//   GET /stats[?gc=1]  → { cpu: µs user+system, rss, heapUsed, …, conns }
//   GET /fanout?count&size&interval&burst[&stamp=message] → emits, answers when the last one left
//   GET /heapsnapshot?file=… → writes a heap snapshot after gc (idle scenario, `snapshot` param)
import { createServer } from 'node:http'
import { writeHeapSnapshot } from 'node:v8'

/** Monotonic milliseconds, shared by every process on the machine (CLOCK_MONOTONIC). */
export function nowMs () {
  return Number(process.hrtime.bigint()) / 1e6
}

/** A fan-out payload whose JSON is `size` bytes: sequence number, send time (default now), padding. */
export function tickPayload (q, size, sentAt = nowMs()) {
  const t = Math.round(sentAt * 1000) / 1000
  const bare = JSON.stringify({ q, t, p: '' }).length
  return { q, t, p: 'x'.repeat(Math.max(0, size - bare)) }
}

function gcHard () {
  if (typeof globalThis.gc !== 'function') return
  for (let i = 0; i < 4; i++) globalThis.gc()
}

/**
 * Serve the control routes and print the ready line the orchestrator waits for.
 * `emit(payload)` publishes one fan-out message; `conns()` counts live connections/sessions.
 */
export async function ready ({ port, emit, conns }) {
  const control = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1')
    const reply = (obj) => {
      const body = JSON.stringify(obj)
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    }
    if (url.pathname === '/stats') {
      if (url.searchParams.get('gc') === '1') gcHard()
      const c = process.cpuUsage()
      const m = process.memoryUsage()
      reply({ cpu: c.user + c.system, rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers, conns: conns() })
      return
    }
    if (url.pathname === '/fanout') {
      const count = Math.min(Number(url.searchParams.get('count') ?? 200), 100_000)
      const size = Math.min(Number(url.searchParams.get('size') ?? 100), 65_536)
      const interval = Math.max(0, Number(url.searchParams.get('interval') ?? 10))
      const burst = Math.max(1, Number(url.searchParams.get('burst') ?? 1))
      const perMessage = url.searchParams.get('stamp') === 'message'
      // Each burst is scheduled on an absolute clock so slow emits do not stretch the schedule.
      const start = nowMs()
      let q = 0
      let tick = 0
      const step = () => {
        // The app emits a burst's messages in one go: each one's lag counts
        // from that moment, not from when the server got round to it (a
        // server that writes message 1 to every socket before it even looks
        // at message 2 must not have message 2's wait left out).
        // stamp=message: each message carries its own emit time instead (the
        // unpaced-burst scenarios: how long after the app emitted a message
        // it arrives, while the rest of the loop is still running).
        const burstAt = nowMs()
        for (let b = 0; b < burst && q < count; b++) emit(tickPayload(q++, size, perMessage ? nowMs() : burstAt))
        if (q >= count) {
          reply({ emitted: q, ms: nowMs() - start })
          return
        }
        tick++
        // interval 0: the next burst in the next event-loop turn, as fast as the server goes.
        if (interval === 0) setImmediate(step)
        else setTimeout(step, Math.max(0, start + tick * interval - nowMs()))
      }
      step()
      return
    }
    if (url.pathname === '/heapsnapshot') {
      // For bench/tools/heap-diff.mjs: what one idle connection keeps alive, by constructor.
      gcHard()
      reply({ file: writeHeapSnapshot(url.searchParams.get('file') ?? undefined) })
      return
    }
    if (url.pathname === '/exit') {
      reply({ bye: true })
      setImmediate(() => process.exit(0))
      return
    }
    res.writeHead(404).end()
  })
  control.keepAliveTimeout = 60_000
  await new Promise(resolve => control.listen(0, '127.0.0.1', resolve))
  // The orchestrator reads this one line from stdout.
  process.stdout.write(JSON.stringify({ ready: true, port, control: control.address().port, pid: process.pid }) + '\n')
  process.on('disconnect', () => process.exit(0))
}
