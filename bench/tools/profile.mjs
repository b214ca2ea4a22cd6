// Read a V8 .cpuprofile (node --cpu-prof; `npm run bench -- --profile` writes
// them to bench/results/profiles/) and print the top self-time functions, each
// named by file:function (lines in the esbuild bundle are mapped back to the
// lib/ file through the `// lib/…` markers esbuild leaves in its output), and
// write a flame graph SVG next to the profile.
//   node bench/tools/profile.mjs bench/results/profiles/ws-fanout.ours-ws.run1.cpuprofile [--top 30]
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const file = process.argv[2]
if (file === undefined) {
  process.stderr.write('usage: node bench/tools/profile.mjs <file.cpuprofile> [--top N]\n')
  process.exit(2)
}
const topIndex = process.argv.indexOf('--top')
const TOP = topIndex === -1 ? 30 : Number(process.argv[topIndex + 1])
const profile = JSON.parse(readFileSync(file, 'utf8'))

// ---- map bundle lines back to their source module -------------------------
const bundleMarkers = new Map()
function sourceOf (url, line) {
  if (!url.endsWith('.mjs') || !url.includes('/results/.build/')) return shortUrl(url)
  let markers = bundleMarkers.get(url)
  if (markers === undefined) {
    markers = []
    const path = url.startsWith('file://') ? fileURLToPath(url) : url
    if (existsSync(path)) {
      readFileSync(path, 'utf8').split('\n').forEach((text, i) => {
        const m = /^\/\/ ((?:lib|bench)\/[^\s]+)$/.exec(text)
        if (m !== null) markers.push([i, m[1]])
      })
    }
    bundleMarkers.set(url, markers)
  }
  let src = 'bundle'
  for (const [at, name] of markers) {
    if (at > line) break
    src = name
  }
  return src
}

function shortUrl (url) {
  if (url === '') return '(native)'
  const nm = url.lastIndexOf('node_modules/')
  if (nm !== -1) return url.slice(nm + 'node_modules/'.length)
  return url.replace(/^file:\/\/.*\/bench\//, 'bench/').replace(/^node:/, 'node:')
}

// ---- self time per node ---------------------------------------------------
const nodes = new Map(profile.nodes.map(n => [n.id, { ...n, self: 0, total: 0 }]))
const { samples, timeDeltas } = profile
for (let i = 0; i < samples.length; i++) {
  const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0
  nodes.get(samples[i]).self += Math.max(0, dt)
}
const root = profile.nodes[0].id
function totals (id) {
  const n = nodes.get(id)
  n.total = n.self
  for (const c of n.children ?? []) n.total += totals(c)
  return n.total
}
totals(root)
const all = nodes.get(root).total

function label (n) {
  const cf = n.callFrame
  const name = cf.functionName === '' ? '(anonymous)' : cf.functionName
  if (cf.url === '') return name
  return `${sourceOf(cf.url, cf.lineNumber)}:${name}`
}

const bySelf = new Map()
for (const n of nodes.values()) {
  const k = label(n)
  bySelf.set(k, (bySelf.get(k) ?? 0) + n.self)
}
const idle = bySelf.get('(idle)') ?? 0
const busy = all - idle
const rows = [...bySelf.entries()].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, TOP)
process.stdout.write(`${file}\nbusy ${(busy / 1000).toFixed(0)} ms of ${(all / 1000).toFixed(0)} ms sampled\n`)
process.stdout.write('self%  self ms  function\n')
for (const [k, v] of rows) process.stdout.write(`${(100 * v / busy).toFixed(1).padStart(5)}  ${(v / 1000).toFixed(1).padStart(7)}  ${k}\n`)

// By module: where the busy time goes, inclusive of nothing (self only).
const byModule = new Map()
for (const n of nodes.values()) {
  if (n.callFrame.functionName === '(idle)') continue
  const k = n.callFrame.url === '' ? n.callFrame.functionName : sourceOf(n.callFrame.url, n.callFrame.lineNumber).replace(/:.*$/, '')
  byModule.set(k, (byModule.get(k) ?? 0) + n.self)
}
process.stdout.write('\nself time by module\n')
for (const [k, v] of [...byModule.entries()].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
  process.stdout.write(`${(100 * v / busy).toFixed(1).padStart(5)}  ${k}\n`)
}

// ---- flame graph (root at the bottom), idle removed -----------------------
const W = 1200
const ROW = 16
const minWidth = 0.3
const rects = []
let maxDepth = 0
function layout (id, x, depth) {
  const n = nodes.get(id)
  const w = (n.total / busy) * W
  if (w < minWidth) return
  if (depth > maxDepth) maxDepth = depth
  if (id !== root) rects.push({ x, w, depth, n })
  let cx = x
  for (const c of n.children ?? []) {
    const cn = nodes.get(c)
    if (cn.callFrame.functionName === '(idle)') continue
    layout(c, cx, depth + 1)
    cx += (cn.total / busy) * W
  }
}
layout(root, 0, 0)
const H = (maxDepth + 2) * ROW + 30
const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
function color (n) {
  const u = n.callFrame.url
  if (u.includes('/results/.build/')) {
    const src = sourceOf(u, n.callFrame.lineNumber)
    return src.startsWith('lib/') ? '#5fb760' : '#9fd39f'
  }
  if (u.includes('node_modules/')) return '#6fa8dc'
  if (u.startsWith('node:')) return '#c9c9c9'
  if (u === '') return '#f0a35e'
  return '#e6d36a'
}
const svg = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="monospace" font-size="10">`,
  '<rect width="100%" height="100%" fill="#fff"/>',
  `<text x="4" y="14" font-size="12">${esc(file.split('/').pop())}: busy ${(busy / 1000).toFixed(0)} ms (idle removed). green: lib/ (ours), blue: node_modules, grey: node internals, orange: native/GC</text>`]
for (const r of rects) {
  const y = H - (r.depth + 1) * ROW
  const text = label(r.n)
  const pct = (100 * r.n.total / busy).toFixed(1)
  svg.push(`<g><title>${esc(text)} (${pct}% incl., ${(100 * r.n.self / busy).toFixed(1)}% self)</title><rect x="${r.x.toFixed(2)}" y="${y}" width="${r.w.toFixed(2)}" height="${ROW - 1}" fill="${color(r.n)}"/>` +
    (r.w > 40 ? `<text x="${(r.x + 2).toFixed(1)}" y="${y + 11}">${esc(text.slice(0, Math.floor(r.w / 6)))}</text>` : '') + '</g>')
}
svg.push('</svg>')
const out = file.replace(/\.cpuprofile$/, '') + '.flame.svg'
writeFileSync(out, svg.join('\n') + '\n')
process.stdout.write(`\nflame graph: ${out}\n`)
