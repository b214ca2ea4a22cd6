// Test-free smoke check of the harness itself: against a deliberately broken
// server (servers/faulty.mjs) every correctness check must fail the run, and
// against a sound one it must pass. Run: node bench/selfcheck.mjs
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startServer, stopServer } from './harness/server-process.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const echo = { scenario: 'echo', params: { clients: 4, inflight: 8, warmMs: 100, durationMs: 800 } }
const fanout = { scenario: 'fanout', params: { subscribers: 20, messages: 20, size: 100, interval: 5, burst: 2 } }
const cases = [
  { fault: 'none', job: echo, expect: 'pass' },
  { fault: 'none', job: fanout, expect: 'pass' },
  { fault: 'mismatch', job: echo, expect: /does not match its request/ },
  { fault: 'drop', job: echo, expect: /outstanding responses/ },
  { fault: 'lose', job: fanout, expect: /expected 3/ },
  { fault: 'reorder', job: fanout, expect: /got message 6 but expected 5/ },
]

function load (job) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(here, 'load', 'loadgen.mjs'), JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'pipe'] })
    let err = ''
    child.stderr.on('data', (d) => { err += d })
    child.stdout.resume()
    child.on('close', (code) => resolve({ code, err }))
  })
}

let bad = 0
for (const c of cases) {
  process.env.BENCH_FAULT = c.fault
  const proc = await startServer({ label: `faulty(${c.fault})`, script: 'servers/faulty.mjs' }, {})
  const r = await load({ ...c.job, proto: 'wsw', target: { port: proc.port, path: '/ws' }, control: proc.control, limitMs: 60_000 })
  await stopServer(proc)
  const ok = c.expect === 'pass' ? r.code === 0 : r.code !== 0 && c.expect.test(r.err)
  if (!ok) bad++
  process.stdout.write(`${ok ? 'ok  ' : 'BAD '} ${c.job.scenario} fault=${c.fault}: ${r.code === 0 ? 'passed' : r.err.trim()}\n`)
}
process.stdout.write(bad === 0 ? 'selfcheck: every fault was caught, the sound server passed\n' : `selfcheck: ${bad} case(s) wrong\n`)
process.exit(bad === 0 ? 0 : 1)
