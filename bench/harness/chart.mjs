// A hand-written SVG: one group of horizontal bars per (scenario, figure), each
// bar a server's median as a ratio to the scenario's first baseline (raw ws for
// WebSocket scenarios and idle memory, socket.io polling for long-poll ones),
// on a log axis centred on 1×. The label says which way is better.
import { METRICS } from './plan.mjs'

const COLORS = {
  ws: '#7f7f7f',
  'fastify-ws': '#1f77b4',
  'sio-ws': '#ff7f0e',
  'ours-ws': '#2ca02c',
  'sio-polling': '#d62728',
  browserchannel: '#9467bd',
  'ours-wc': '#17becf',
  'browserchannel-lp': '#c5b0d5',
  'parked-get': '#bcbd22',
  'ours-wc-lp': '#0e7c8a',
  'ours-wc-lp+patch': '#6fb8c2',
  'ours-ws+patch': '#98df8a',
  'ours-wc+patch': '#9edae5',
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

export function renderSvg (report) {
  const groups = []
  for (const s of report.scenarios) {
    const rows = report.results[s.id] ?? {}
    const base = s.baselines[0]
    for (const m of (s.chart ?? s.metrics)) {
      const bars = s.servers.filter(id => rows[id] !== undefined).map(id => ({
        id,
        ratio: rows[id].notRun !== undefined ? null : rows[id].ratios[base]?.[m] ?? null,
        notRun: rows[id].notRun !== undefined,
      }))
      const meta = METRICS[m]
      groups.push({ title: `${s.id} · ${meta.label} (${meta.lower ? 'lower' : 'higher'} is better) · × ${report.servers[base].label}`, bars })
    }
  }
  const W = 900
  const left = 170
  const right = 70
  const barH = 14
  const gap = 4
  const groupGap = 30
  const top = 70
  const plotW = W - left - right
  // log2 axis from 1/32× to 64×
  const lo = -5
  const hi = 6
  const x = (r) => left + ((Math.log2(Math.min(Math.max(r, 2 ** lo), 2 ** hi)) - lo) / (hi - lo)) * plotW
  let y = top
  const parts = []
  for (const g of groups) {
    parts.push(`<text x="${left}" y="${y - 6}" class="g">${esc(g.title)}</text>`)
    for (const b of g.bars) {
      const label = report.servers[b.id].label
      parts.push(`<text x="${left - 6}" y="${y + barH - 3}" class="l">${esc(label)}</text>`)
      if (b.ratio == null) {
        parts.push(`<text x="${x(1) + 4}" y="${y + barH - 3}" class="v">${b.notRun ? 'not run' : 'failed'}</text>`)
      } else {
        const x0 = x(1)
        const x1 = x(b.ratio)
        const xa = Math.min(x0, x1)
        const w = Math.max(1, Math.abs(x1 - x0))
        parts.push(`<rect x="${xa.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[b.id] ?? '#333'}"/>`)
        const text = b.ratio >= 10 ? b.ratio.toFixed(0) + '×' : b.ratio.toFixed(2) + '×'
        parts.push(`<text x="${(Math.max(x0, x1) + 4).toFixed(1)}" y="${y + barH - 3}" class="v">${text}</text>`)
      }
      y += barH + gap
    }
    y += groupGap
  }
  const H = y + 10
  const axis = []
  for (let e = lo; e <= hi; e++) {
    const xx = x(2 ** e)
    const t = e >= 0 ? `${2 ** e}×` : `1/${2 ** -e}×`
    axis.push(`<line x1="${xx}" y1="${top - 24}" x2="${xx}" y2="${H - 10}" class="${e === 0 ? 'one' : 'grid'}"/>`)
    axis.push(`<text x="${xx}" y="${top - 28}" class="a">${t}</text>`)
  }
  const m = report.machine
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">
<style>
.g{font-size:12px;font-weight:bold;fill:#222}.l{font-size:11px;text-anchor:end;fill:#333}.v{font-size:10px;fill:#333}
.a{font-size:10px;text-anchor:middle;fill:#555}.grid{stroke:#e4e4e4}.one{stroke:#000;stroke-width:1.2}.t{font-size:13px;font-weight:bold}.s{font-size:10px;fill:#555}
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="18" class="t">fastify-webchannel vs alternatives: median ratio to the baseline (log scale; 1× = baseline)</text>
<text x="10" y="32" class="s">${esc(`${m.cpu}, ${m.cores} cores, Node ${m.node}; ${report.runsPerFigure} run(s) per figure${report.mode === 'quick' ? ' (quick smoke run: not comparable)' : ''}; ${report.generatedAt}`)}</text>
${axis.join('\n')}
${parts.join('\n')}
</svg>
`
}
