// The Markdown report: machine, targets, then one table per scenario.
import { METRICS } from './plan.mjs'

export function num (v, unitScale = 1) {
  if (v == null) return '–'
  const x = v * unitScale
  const a = Math.abs(x)
  if (a >= 1000) return Math.round(x).toLocaleString('en-US')
  if (a >= 100) return x.toFixed(0)
  if (a >= 10) return x.toFixed(1)
  if (a >= 1) return x.toFixed(2)
  return x.toPrecision(2)
}

function figure (f, m, runs) {
  if (f == null) return 'FAIL'
  const k = METRICS[m].scale ?? 1
  const text = f.values.length > 1 ? `${num(f.median, k)} (${num(f.min, k)}–${num(f.max, k)})` : num(f.median, k)
  return f.values.length < runs ? `${text} [${f.values.length} run${f.values.length === 1 ? '' : 's'}]` : text
}

const ratio = (r) => r == null ? '–' : `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×`

function contextCell (report, t) {
  const parts = (t.context ?? []).map(c => {
    const m = METRICS[c.metric]
    const who = c.note ?? report.servers[c.server].label
    const value = `${num(c.value, m.scale ?? 1)} ${m.unit}`
    return c.ratio == null ? `${who}: ${value}` : `${who}: ${value}, ${ratio(c.ratio)} ${report.servers[c.vs].label}`
  })
  return parts.length === 0 ? '' : parts.join('; ')
}

export function renderMarkdown (report, chartFile = 'chart.svg') {
  const { machine: m } = report
  const lines = []
  lines.push('# fastify-webchannel benchmark results', '')
  lines.push(`${report.mode === 'quick' ? '**Quick smoke run (small sizes, 1 run): not comparable.** ' : ''}Each figure is the median of ${report.runsPerFigure} run(s), range in parentheses; ratios are medians over the baseline's median. Server pinned to CPU 0 and load generator to CPU 1: ${report.pinned ? 'yes' : 'no'}.`, '')
  lines.push(`Machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}. Commit ${m.commit ?? '?'} (lib/ as checked out, uncommitted changes included). ` +
    `Versions: ${Object.entries(m.versions).map(([k, v]) => `${k} ${v}`).join(', ')}. Generated ${report.generatedAt} in ${report.elapsedSeconds} s.`, '')
  lines.push(`![ratios to the baseline per scenario](${chartFile})`, '')

  if (report.cutShort) lines.push(`**Cut short:** ${report.cutShort}; the affected figures have fewer runs (see the ranges).`, '')
  if (report.patch) lines.push(`Rows marked "+ patch" run ours built from a copy of lib/ with \`${report.patch}\` applied.`, '')
  lines.push('## Targets (ours, ratios in the same run)', '')
  lines.push('| target | ours | baseline | ratio | status | context (same run) |', '|---|---:|---:|---:|---|---|')
  for (const t of report.targets) {
    const k = METRICS[t.metric].scale ?? 1
    const unit = METRICS[t.metric].unit
    const status = t.status === 'met' ? '**met**' : t.status === 'missed' ? '**MISSED**' : t.status + (t.why ? ` (${t.why})` : '')
    lines.push(`| ${t.text} | ${t.ours == null ? '–' : num(t.ours, k) + ' ' + unit} | ${t.baseline == null ? '–' : num(t.baseline, k) + ' ' + unit} | ${t.ratio == null ? '–' : ratio(t.ratio) + ` (limit ${t.op === '<=' ? '≤' : '≥'} ${t.limit}×)`} | ${status} | ${contextCell(report, t)} |`)
  }
  lines.push('')

  for (const s of report.scenarios) {
    const rows = report.results[s.id] ?? {}
    lines.push(`## ${s.title}`, '')
    lines.push(`Parameters: \`${JSON.stringify(s.params)}\`. Bounded by: ${s.bound}.`, '')
    const heads = s.metrics.map(x => `${METRICS[x].label} (${METRICS[x].unit})`)
    const short = s.metrics.map(x => METRICS[x].label).join(' / ')
    const ratioHeads = s.baselines.map(b => `× ${report.servers[b].label} (${short})`)
    lines.push(`| server | ${heads.join(' | ')} | ${ratioHeads.join(' | ')} |`)
    lines.push(`|---|${heads.map(() => '---:').join('|')}|${ratioHeads.map(() => '---:').join('|')}|`)
    for (const id of s.servers) {
      const row = rows[id]
      if (row === undefined) continue
      const label = report.servers[id].label
      if (row.notRun !== undefined) {
        lines.push(`| ${label} | ${s.metrics.map(() => 'not run').join(' | ')} | ${s.baselines.map(() => '–').join(' | ')} |`)
        continue
      }
      const cells = s.metrics.map(x => figure(row.figures[x], x, report.runsPerFigure))
      const rcells = s.baselines.map(b => row.ratios[b] === undefined ? '–' : s.metrics.map(x => ratio(row.ratios[b][x])).join(' / '))
      lines.push(`| ${label}${row.errors.length > 0 ? ` (**${row.errors.length} run(s) FAILED**)` : ''} | ${cells.join(' | ')} | ${rcells.join(' | ')} |`)
    }
    const notes = s.servers.map(id => rows[id]).filter(r => r?.notRun !== undefined).map(r => r.notRun)
    if (notes.length > 0) lines.push('', `Not run: ${[...new Set(notes)].join('; ')}.`)
    lines.push('')
  }
  if (report.failures.length > 0) {
    lines.push('## Failures', '', ...report.failures.map(f => `- ${f}`), '')
  }
  return lines.join('\n')
}
