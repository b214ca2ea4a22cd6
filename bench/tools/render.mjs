// Re-render a results JSON as Markdown and SVG (after changing the renderers,
// or to look at an older run): node bench/tools/render.mjs bench/results/latest.json
import { readFileSync, writeFileSync } from 'node:fs'
import { renderMarkdown } from '../harness/markdown.mjs'
import { renderSvg } from '../harness/chart.mjs'
import { SCENARIOS } from '../harness/plan.mjs'

const file = process.argv[2] ?? new URL('../results/latest.json', import.meta.url).pathname
const report = JSON.parse(readFileSync(file, 'utf8'))
// Older reports did not store which figures to chart.
for (const s of report.scenarios) s.chart ??= SCENARIOS.find(x => x.id === s.id)?.chart
const base = file.replace(/\.json$/, '')
const chart = base.endsWith('/latest') ? 'chart.svg' : `${base.split('/').pop()}.svg`
writeFileSync(`${base}.md`, renderMarkdown(report, chart))
writeFileSync(base.slice(0, base.lastIndexOf('/') + 1) + chart, renderSvg(report))
process.stdout.write(`wrote ${base}.md and ${chart}\n`)
