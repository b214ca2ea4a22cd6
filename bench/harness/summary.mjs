// Medians with ranges, ratios to the baselines, and the targets.
import { SCENARIOS } from './plan.mjs'

function median (xs) {
  const s = [...xs].sort((a, b) => a - b)
  const n = s.length
  if (n === 0) return null
  return n % 2 === 1 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
}

/** results[scenario][server] = { runs } → figures { median, min, max, values } and ratios. */
export function summarize (plan, results) {
  const out = {}
  for (const s of plan) {
    const rows = out[s.id] = {}
    for (const id of s.servers) {
      const slot = results[s.id]?.[id]
      if (slot === undefined) continue
      if (slot.notRun !== undefined) {
        rows[id] = { notRun: slot.notRun, figures: {}, errors: [], ratios: {} }
        continue
      }
      const ok = slot.runs.filter(r => r.error === undefined)
      const figures = {}
      for (const m of s.metrics) {
        const values = ok.map(r => r[m]).filter(v => typeof v === 'number' && Number.isFinite(v))
        figures[m] = values.length === 0 ? null : { median: median(values), min: Math.min(...values), max: Math.max(...values), values }
      }
      rows[id] = { figures, errors: slot.runs.filter(r => r.error !== undefined).map(r => r.error), runs: slot.runs, ratios: {} }
    }
    for (const id of Object.keys(rows)) {
      for (const b of s.baselines) {
        const base = rows[b]
        if (base === undefined) continue
        rows[id].ratios[b] = {}
        for (const m of s.metrics) {
          const a = rows[id].figures[m]
          const z = base.figures[m]
          rows[id].ratios[b][m] = a == null || z == null || z.median === 0 ? null : a.median / z.median
        }
      }
    }
  }
  return out
}

export const TARGETS = [
  { text: 'WebSocket echo (TypeBox validation on): server CPU per request ≤ 1.2× raw ws', scenario: 'ws-echo-throughput', server: 'ours-ws', metric: 'cpuPerOpUs', vs: 'ws', op: '<=', limit: 1.2 },
  { text: 'WebSocket fan-out: server CPU per delivery ≤ 0.6× raw ws', scenario: 'ws-fanout', server: 'ours-ws', metric: 'cpuPerOpUs', vs: 'ws', op: '<=', limit: 0.6 },
  {
    text: 'WebSocket fan-out: p99 delivery lag no worse than raw ws',
    scenario: 'ws-fanout',
    server: 'ours-ws',
    metric: 'p99',
    vs: 'ws',
    op: '<=',
    limit: 1.0,
    context: [{ server: 'ours-ws', metric: 'clientBusy', vs: null, note: 'load generator busy' }, { server: 'ws', metric: 'clientBusy', vs: null, note: 'with raw ws' }],
  },
  {
    text: 'Idle memory per WebSocket connection ≤ 1.3× raw ws (RSS)',
    scenario: 'idle-memory',
    server: 'ours-ws',
    metric: 'rssPerConn',
    vs: 'ws',
    op: '<=',
    limit: 1.3,
    context: [{ server: 'fastify-ws' }],
  },
  {
    text: 'Idle memory per WebChannel session ≤ 1.5× raw ws per connection (RSS)',
    scenario: 'idle-memory',
    server: 'ours-wc',
    metric: 'rssPerConn',
    vs: 'ws',
    op: '<=',
    limit: 1.5,
    context: [{ server: 'parked-get', note: 'floor: a bare node:http parked GET' }, { server: 'browserchannel' }],
  },
  {
    text: 'Long-poll echo, 50 × 16: requests/s ≥ 1.8× socket.io polling',
    scenario: 'lp-echo-throughput',
    server: 'ours-wc',
    metric: 'rate',
    vs: 'sio-polling',
    op: '>=',
    limit: 1.8,
    context: [{ server: 'ours-wc', metric: 'cpuPerOpUs', note: 'server CPU per echo' }, { server: 'ours-wc', metric: 'clientBusy', vs: null, note: 'load generator busy' }],
  },
  {
    text: 'Long-poll echo, 50 × 16: requests/s ≥ browserchannel',
    scenario: 'lp-echo-throughput',
    server: 'ours-wc',
    metric: 'rate',
    vs: 'browserchannel',
    op: '>=',
    limit: 1.0,
    context: [{ server: 'ours-wc', metric: 'cpuPerOpUs', note: 'server CPU per echo' }, { server: 'browserchannel', metric: 'clientBusy', vs: null, note: 'load generator busy with browserchannel' }],
  },
  {
    text: 'Long-poll echo, 50 × 16: server CPU per echo ≤ 0.5× socket.io polling',
    scenario: 'lp-echo-throughput',
    server: 'ours-wc',
    metric: 'cpuPerOpUs',
    vs: 'sio-polling',
    op: '<=',
    limit: 0.5,
    context: [{ server: 'ours-wc-lp', note: 'ours with CI=1 long polls' }, { server: 'ours-wc', metric: 'clientBusy', vs: null, note: 'load generator busy' }],
  },
  {
    text: 'Long-poll echo, 50 × 16: server CPU per echo ≤ 0.8× browserchannel',
    scenario: 'lp-echo-throughput',
    server: 'ours-wc',
    metric: 'cpuPerOpUs',
    vs: 'browserchannel',
    op: '<=',
    limit: 0.8,
    context: [{ server: 'ours-wc-lp', vs: 'browserchannel-lp', note: 'CI=1 against browserchannel CI=1' }],
  },
  {
    text: 'Unpaced burst, 200 subscribers (WebSocket): p99 lag ≤ 2× raw ws',
    scenario: 'ws-burst-200',
    server: 'ours-ws',
    metric: 'p99',
    vs: 'ws',
    op: '<=',
    limit: 2,
    context: [{ server: 'ours-ws', metric: 'clientBusy', vs: null, note: 'load generator busy' }, { server: 'ws', metric: 'clientBusy', vs: null, note: 'with raw ws' }],
  },
  {
    text: 'Unpaced burst, 200 subscribers (WebSocket): deliveries/s ≥ 2× raw ws',
    scenario: 'ws-burst-200',
    server: 'ours-ws',
    metric: 'rate',
    vs: 'ws',
    op: '>=',
    limit: 2,
    context: [{ server: 'ours-ws', metric: 'clientBusy', vs: null, note: 'load generator busy' }, { server: 'ws', metric: 'clientBusy', vs: null, note: 'with raw ws' }],
  },
  {
    text: 'Unpaced burst, 2000 subscribers (WebSocket): p99 lag ≤ 2× raw ws',
    scenario: 'ws-burst-2000',
    server: 'ours-ws',
    metric: 'p99',
    vs: 'ws',
    op: '<=',
    limit: 2,
    context: [{ server: 'ours-ws', metric: 'clientBusy', vs: null, note: 'load generator busy' }, { server: 'ws', metric: 'clientBusy', vs: null, note: 'with raw ws' }],
  },
  {
    text: 'Unpaced burst, 2000 subscribers (WebSocket): deliveries/s ≥ 2× raw ws',
    scenario: 'ws-burst-2000',
    server: 'ours-ws',
    metric: 'rate',
    vs: 'ws',
    op: '>=',
    limit: 2,
    context: [{ server: 'ours-ws', metric: 'clientBusy', vs: null, note: 'load generator busy' }, { server: 'ws', metric: 'clientBusy', vs: null, note: 'with raw ws' }],
  },
  { text: 'Long-poll fan-out, 200 subscribers: deliveries/s ≥ browserchannel', scenario: 'lp-fanout', server: 'ours-wc', metric: 'rate', vs: 'browserchannel', op: '>=', limit: 1.0 },
  {
    text: 'Long-poll fan-out, 200 subscribers: p99 lag ≤ 0.25× socket.io polling',
    scenario: 'lp-fanout',
    server: 'ours-wc',
    metric: 'p99',
    vs: 'sio-polling',
    op: '<=',
    limit: 0.25,
    context: [{ server: 'browserchannel' }, { server: 'ours-wc-lp', note: 'ours with CI=1 long polls' }],
  },
]

/**
 * Figures that say what bounds a target, from the same run: another server's
 * ratio to the target's baseline (a floor, a peer), ours on another metric
 * (CPU per op next to a rate), or a bare figure (`vs: null`).
 */
function contextOf (t, rows) {
  return (t.context ?? []).map(c => {
    const metric = c.metric ?? t.metric
    const f = rows[c.server]?.figures?.[metric]
    if (f == null) return null
    const vs = c.vs === undefined ? t.vs : c.vs
    const z = vs === null ? null : rows[vs]?.figures?.[metric]
    return { server: c.server, metric, note: c.note ?? null, value: f.median, vs, ratio: z == null ? null : f.median / z.median }
  }).filter(c => c !== null)
}

export function evaluateTargets (summary) {
  // With --patch, every target is judged for the patched build as well.
  const all = TARGETS.flatMap(t => summary[t.scenario]?.[`${t.server}+patch`] !== undefined
    ? [t, { ...t, server: `${t.server}+patch`, text: `${t.text} — with the patch` }]
    : [t])
  return all.map(t => {
    const rows = summary[t.scenario]
    const row = rows?.[t.server]
    const base = rows?.[t.vs]
    const scenarioKnown = SCENARIOS.some(s => s.id === t.scenario)
    if (!scenarioKnown || rows === undefined || row === undefined || base === undefined) return { ...t, status: 'not measured', context: [] }
    if (row.notRun !== undefined) return { ...t, status: 'not run', why: row.notRun, context: [] }
    const a = row.figures[t.metric]
    const z = base.figures[t.metric]
    if (a == null || z == null) return { ...t, status: 'failed', context: contextOf(t, rows) }
    const ratio = a.median / z.median
    const met = t.op === '<=' ? ratio <= t.limit : ratio >= t.limit
    return { ...t, ours: a.median, baseline: z.median, ratio, status: met ? 'met' : 'missed', context: contextOf(t, rows) }
  })
}
