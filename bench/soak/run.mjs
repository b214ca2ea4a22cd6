#!/usr/bin/env node
// npm run soak [-- --sessions N --slow N --batch N --addresses N --json FILE]
// Opens and abandons N WebChannel sessions and N WebSocket connections (default
// 10,000 each) plus slow readers, then checks that the server is back to its
// baseline: no session or record left, timers and sockets as before, heap
// after GC within 10 %. Exit code 1 when a check fails.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { mb, soak } from './soak.mjs'

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '10000' },
    slow: { type: 'string', default: '300' },
    batch: { type: 'string', default: '500' },
    concurrency: { type: 'string', default: '100' },
    addresses: { type: 'string', default: '8' },
    'session-timeout': { type: 'string', default: '2000' },
    json: { type: 'string' },
  },
})

const report = await soak({
  sessions: Number(values.sessions),
  slow: Number(values.slow),
  batch: Number(values.batch),
  concurrency: Number(values.concurrency),
  addresses: Number(values.addresses),
  // Longer than the load: every WebChannel session is live at the peak.
  serverOptions: { webchannel: { sessionTimeout: Number(values['session-timeout']) } },
  cleanupDeadline: Math.max(60_000, 3 * Number(values['session-timeout'])),
  log: (line) => console.log(line),
})
if (values.json !== undefined) writeFileSync(values.json, JSON.stringify(report, null, 2) + '\n')

const { baseline, peak, after } = report
const checks = [
  ['no session or record left', report.cleanedUp && Object.values(after.stats.sessions).every(n => n === 0) && Object.values(after.stats.records).every(n => n === 0)],
  [`timers back to baseline (${baseline.timers} → ${after.timers})`, after.timers <= baseline.timers],
  [`sockets back to baseline (${baseline.sockets} → ${after.sockets})`, after.sockets <= baseline.sockets],
  [`heap after GC within 10 % (${mb(baseline.heapUsed)} → ${mb(after.heapUsed)}, ${(report.heapGrowth * 100).toFixed(1)} %)`, report.heapGrowth <= 0.10],
  [`every muted WebSocket cut by the server (${report.mutedNotCut} not)`, report.mutedNotCut === 0],
]
// The two defects the soak found (both fixed): checked like the rest.
if (report.slowloris !== undefined) checks.push([`unread back channels' sockets freed once their sessions ended (${report.slowloris.sockets} held, heap ${mb(report.slowloris.heapUsed)})`, report.slowloris.socketsFreed])
if (report.hangups !== undefined) checks.push([`sessions whose client hung up during an async hook gone within sessionTimeout (${JSON.stringify(report.hangups.stats.sessions)}, ${report.hangups.timers} timers after ${report.hangups.waitedMs} ms)`, report.hangups.sessionsGone])
console.log(`
${report.sessions} WebChannel sessions + ${report.sessions} WebSocket connections + ${report.slow} slow readers, batches of ${report.batch} (${report.concurrency} at once), ${report.addresses} source addresses
load ${(report.loadMs / 1000).toFixed(1)} s, cleanup ${(report.cleanupMs / 1000).toFixed(1)} s, total ${(report.totalMs / 1000).toFixed(1)} s
heap after GC: baseline ${mb(baseline.heapUsed)}, at the end of the load ${mb(peak.heapUsed)} (${peak.stats.sessions.websocket + peak.stats.sessions.webchannel} sessions live; highest sampled ${mb(peak.sampledHeapUsed)}, ${peak.sampledSessions} sessions), after cleanup ${mb(after.heapUsed)}
timers: baseline ${baseline.timers} (ref'd ${baseline.refTimers}), peak sampled ${peak.sampledTimers}, after ${after.timers} (ref'd ${after.refTimers})
slow readers still connected after their sessions ended: server sockets ${report.slowHeld.sockets} (baseline ${baseline.sockets}), heap ${mb(report.slowHeld.heapUsed)}
sessions ended by reason: ${JSON.stringify(report.ended)}
client errors: ${JSON.stringify(report.errors)}
`)
let ok = true
for (const [what, pass] of checks) {
  console.log(`${pass ? 'ok    ' : 'FAILED'} ${what}`)
  ok &&= pass
}
process.exitCode = ok ? 0 : 1
