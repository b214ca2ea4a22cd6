// What one idle connection costs in the JS heap, by constructor: the difference
// between two heap snapshots (before and after opening N connections) divided by N.
//   node bench/tools/heap-diff.mjs before.heapsnapshot after.heapsnapshot N [--top 30]
import { readFileSync } from 'node:fs'

const [before, after, nText] = process.argv.slice(2)
if (nText === undefined) {
  process.stderr.write('usage: node bench/tools/heap-diff.mjs before.heapsnapshot after.heapsnapshot N [--top 30]\n')
  process.exit(2)
}
const n = Number(nText)
const topIndex = process.argv.indexOf('--top')
const TOP = topIndex === -1 ? 30 : Number(process.argv[topIndex + 1])

function summarize (file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'))
  const f = snap.snapshot.meta.node_fields
  const types = snap.snapshot.meta.node_types[0]
  const stride = f.length
  const iType = f.indexOf('type')
  const iName = f.indexOf('name')
  const iSize = f.indexOf('self_size')
  const out = new Map()
  const nodes = snap.nodes
  for (let i = 0; i < nodes.length; i += stride) {
    const type = types[nodes[i + iType]]
    let name = snap.strings[nodes[i + iName]]
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string') name = '(string)'
    else if (type === 'code') name = '(code)'
    else if (type === 'array') name = `(array) ${name}`.slice(0, 60)
    else if (type === 'closure') name = `(closure) ${name}`.slice(0, 60)
    else name = `${type === 'object' ? '' : '(' + type + ') '}${name}`.slice(0, 60)
    const e = out.get(name) ?? { count: 0, size: 0 }
    e.count++
    e.size += nodes[i + iSize]
    out.set(name, e)
  }
  return out
}

const a = summarize(before)
const b = summarize(after)
const rows = []
let total = 0
for (const [name, e] of b) {
  const z = a.get(name) ?? { count: 0, size: 0 }
  const size = (e.size - z.size) / n
  const count = (e.count - z.count) / n
  total += size
  rows.push({ name, size, count })
}
rows.sort((x, y) => y.size - x.size)
process.stdout.write(`heap per connection: ${total.toFixed(0)} B (self sizes, ${n} connections)\n  bytes  objects  constructor\n`)
for (const r of rows.slice(0, TOP)) process.stdout.write(`${r.size.toFixed(0).padStart(7)}  ${r.count.toFixed(2).padStart(7)}  ${r.name}\n`)
