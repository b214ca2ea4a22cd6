import { readFile } from 'node:fs/promises'
import t from 'tap'
import { errors } from '../lib/index.js'

// The README's error table and lib/errors.ts list the same codes, with the
// same kinds and statuses: a code added to one and not the other fails here.

const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
const section = readme.slice(readme.indexOf('\n## Errors\n'), readme.indexOf('\n## ', readme.indexOf('\n## Errors\n') + 1))

function rows (): string[] {
  const out: string[] = []
  for (const line of section.split('\n')) {
    const m = /^\| (thrown|http|wire|close) \| `([^`]+)` \| ?(\d*) ?\|/.exec(line)
    if (m !== null) out.push(`${m[1]} ${m[2]} ${m[3]}`)
  }
  return out.sort()
}

t.test('the README error table is the catalogue', async t => {
  const fromCode = errors.catalogue().map(e => `${e.kind} ${e.code} ${e.status ?? ''}`).sort()
  t.ok(fromCode.length > 30)
  t.same(rows(), fromCode)
})

t.test('no code is declared twice with different meanings', async t => {
  const seen = new Map<string, string>()
  for (const e of errors.catalogue()) {
    const key = e.kind + ' ' + e.code + ' ' + String(e.status)
    t.notOk(seen.has(key), key + ' once')
    seen.set(key, key)
  }
})
