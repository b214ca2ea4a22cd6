// The Markdown report of the scale bench (bench/scale.mjs), from its JSON:
//   node bench/harness/scale-markdown.mjs bench/results/scale.json   (re-renders scale.md)
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export function renderScale (r) {
  const k = (b) => (b / 1024).toFixed(2)
  const x = (a, b) => b > 0 ? `${(a / b).toFixed(2)}×` : '–'
  const lines = ['# Scale on one server process', '']
  const m = r.machine
  lines.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}. Commit ${m.commit ?? '?'}. ` +
    `Versions: ${Object.entries(m.versions).map(([a, b]) => `${a} ${b}`).join(', ')}. Generated ${r.generatedAt} in ${r.elapsedSeconds} s. ` +
    `Server pinned to CPU 0, load generators to CPU 1: ${r.pinned ? 'yes' : 'no'}.`, '')
  lines.push(`OS limits: open files ${r.limits.nofileSoft} (soft) / ${r.limits.nofileHard} (hard) per process, net.core.somaxconn ${r.limits.somaxconn}, ` +
    `net.ipv4.ip_local_port_range ${r.limits.ipLocalPortRange}, tcp_max_syn_backlog ${r.limits.tcpMaxSynBacklog}.`, '')
  const skipped = r.requested.filter(n => n > r.cap)
  if (skipped.length > 0) {
    lines.push(`**Bounded by the machine:** ${skipped.map(n => n.toLocaleString('en-US')).join(', ')} connections were asked for, but the server holds one file descriptor per connection and ` +
      `the hard open-file limit is ${r.limits.nofileHard} per process, so the top step is ${r.cap.toLocaleString('en-US')} (the limit less 500 for the server's own descriptors). ` +
      'Raising it needs `ulimit -Hn` (root, or `LimitNOFILE` in a unit file) on the server host; nothing in the code is sized by it.', '')
  }
  lines.push(`Clients: separate load-generator processes of ≤ ${r.perWorker.toLocaleString('en-US')} clients each, each bound to its own source address (127.0.0.2 and up), so no process needs more than ${r.perWorker.toLocaleString('en-US')} descriptors and the ephemeral port range is not shared. ` +
    'Idle CPU: server CPU over the window ÷ the window (the top step\'s window is 31 s, longer than ours\' default 30 s keepalive, so it includes one ping sweep; raw ws sends no pings). ' +
    `Broadcast: one 100-byte message to every client, time from the emit until the last client has it (median of ${r.broadcasts ?? 3}), and the server CPU it took.`, '')
  lines.push('## WebSocket connections', '')
  lines.push('| connections | server | RSS/conn (KiB) | heap/conn (KiB) | idle CPU (% of a core) | accept step (ms) | accepts/s | broadcast (ms) | broadcast CPU (ms) | × raw ws (RSS / heap / broadcast ms / broadcast CPU) | load avg |')
  lines.push('|---:|---|---:|---:|---:|---:|---:|---:|---:|---|---:|')
  r.results.ws.forEach((w, i) => {
    const o = r.results.ours[i]
    for (const [label, row] of [['ws (raw)', w], ['ours', o]]) {
      if (row === undefined) continue
      lines.push(`| ${row.n.toLocaleString('en-US')} | ${label} | ${k(row.rssPerConn)} | ${k(row.heapPerConn)} | ${row.idleCpuPct.toFixed(2)} (${row.idleMs / 1000} s) | ${row.acceptMs.toFixed(0)} (+${row.step.toLocaleString('en-US')}) | ${row.acceptPerSecond.toFixed(0)} | ${row.broadcastMs.toFixed(1)} | ${row.broadcastCpuMs.toFixed(1)} | ` +
        `${label === 'ours' ? [x(o.rssPerConn, w.rssPerConn), x(o.heapPerConn, w.heapPerConn), x(o.broadcastMs, w.broadcastMs), x(o.broadcastCpuMs, w.broadcastCpuMs)].join(' / ') : '1'} | ${row.loadavg} |`)
    }
  })
  const ours = r.results.ours
  const step = (rows) => rows.map((row, i) => i === 0 ? null : { from: rows[i - 1].n, to: row.n, rss: (row.rssPerConn * row.n - rows[i - 1].rssPerConn * rows[i - 1].n) / (row.n - rows[i - 1].n), heap: (row.heapPerConn * row.n - rows[i - 1].heapPerConn * rows[i - 1].n) / (row.n - rows[i - 1].n) }).filter(x => x !== null)
  const so = step(ours)
  const sw = step(r.results.ws)
  lines.push('', 'Per connection added between steps (the step\'s growth ÷ its new connections; fixed costs such as heap and allocator growth weigh less as the count grows, which is why the totals above fall):', '')
  lines.push('| step | ours RSS (KiB) | ours heap (KiB) | raw ws RSS (KiB) | raw ws heap (KiB) |', '|---|---:|---:|---:|---:|')
  so.forEach((o, i) => lines.push(`| ${o.from.toLocaleString('en-US')} → ${o.to.toLocaleString('en-US')} | ${k(o.rss)} | ${k(o.heap)} | ${k(sw[i].rss)} | ${k(sw[i].heap)} |`))
  const top = ours.at(-1)
  lines.push('', `Heap per connection, top step ÷ 1k step: ours ${(top.heapPerConn / ours[0].heapPerConn).toFixed(2)}×, raw ws ${(r.results.ws.at(-1).heapPerConn / r.results.ws[0].heapPerConn).toFixed(2)}×. ` +
    `Idle CPU at the top step (${top.idleMs / 1000} s window, one keepalive sweep in it): ${top.idleCpuPct.toFixed(2)} % of a core, ` +
    `${(top.idleCpuPct * 1000 / top.n).toFixed(3)} % per 1,000 connections, i.e. ${(top.idleCpuPct * 50 / (top.n / 1000)).toFixed(1)} % at 50,000 if it stays linear (not measured: see the limit above).`, '')
  const wc = r.results.oursWebChannel
  lines.push('## WebChannel sessions (ours)', '')
  lines.push('| clients | RSS/conn (KiB) | heap/conn (KiB) | idle CPU (% of a core) | accept step (ms) | accepts/s | broadcast (ms) | broadcast CPU (ms) | load avg |')
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  const s = wc.sessions
  lines.push(`| ${wc.sessions.n.toLocaleString('en-US')} WebChannel sessions (streaming GET parked) | ${k(s.rssPerConn)} | ${k(s.heapPerConn)} | ${s.idleCpuPct.toFixed(2)} (${s.idleMs / 1000} s) | ${s.acceptMs.toFixed(0)} | ${s.acceptPerSecond.toFixed(0)} | ${s.broadcastMs.toFixed(1)} | ${s.broadcastCpuMs.toFixed(1)} | ${s.loadavg} |`)
  const mx = wc.mixed
  const wsTop = r.results.ws.at(-1)
  lines.push(`| ${mx.websocket.toLocaleString('en-US')} WebSocket + ${mx.webchannel.toLocaleString('en-US')} WebChannel | ${k(mx.rssPerConn)} | ${k(mx.heapPerConn)} | ${mx.idleCpuPct.toFixed(2)} (${mx.idleMs / 1000} s) | ${mx.acceptMs.toFixed(0)} (+${mx.websocket.toLocaleString('en-US')} WS) | ${mx.acceptPerSecond.toFixed(0)} | ${mx.broadcastMs.toFixed(1)} | ${mx.broadcastCpuMs.toFixed(1)} | ${mx.loadavg} |`)
  lines.push('', `With the ${wc.sessions.n.toLocaleString('en-US')} sessions open the server held ${wc.fdsWithSessions.toLocaleString('en-US')} descriptors (a session's parked GET, plus the idle keep-alive connection its forward POSTs came on), so ${mx.websocket.toLocaleString('en-US')} WebSocket connections fit beside them under the limit.`)
  const per = (row) => row.broadcastCpuMs * 1000 / row.n
  lines.push('', `Broadcast to all ${mx.n.toLocaleString('en-US')} (mixed): ${per(mx).toFixed(1)} µs of server CPU per recipient, against ${per(wsTop).toFixed(1)} µs for raw ws to ${wsTop.n.toLocaleString('en-US')} WebSocket connections (${x(per(mx), per(wsTop))}); ` +
    `${(mx.broadcastMs * 1000 / mx.n).toFixed(1)} µs against ${(wsTop.broadcastMs * 1000 / wsTop.n).toFixed(1)} µs of wall time per recipient (${x(mx.broadcastMs / mx.n, wsTop.broadcastMs / wsTop.n)}).`, '')
  return lines.join('\n')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2]
  writeFileSync(file.replace(/\.json$/, '.md'), renderScale(JSON.parse(readFileSync(file, 'utf8'))))
}
