import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { Type } from 'typebox'
import { startApp } from './helpers/app.js'
import { docBlocks, extractBlocks, typecheckBlocks } from './helpers/doc-blocks.js'

const root = new URL('../', import.meta.url)
const rootDir = fileURLToPath(root).replace(/\/$/, '')

// The README example is type-checked as test/fixtures/readme-example.ts
// (npm run typecheck); this keeps the two from drifting apart.
t.test('the README example is the type-checked fixture', async t => {
  const readme = await readFile(new URL('README.md', root), 'utf8')
  const block = readme.split('## Example: a typed chat in about twenty lines')[1].split('```ts\n')[1].split('```')[0]
  const fixture = await readFile(new URL('./fixtures/readme-example.ts', import.meta.url), 'utf8')
  t.equal(block, fixture)
})

async function markdownFiles (): Promise<string[]> {
  const docs = (await readdir(new URL('docs/', root))).filter(f => f.endsWith('.md')).sort()
  return ['README.md', ...docs.map(f => 'docs/' + f)]
}

// Fences in these languages are not code a reader compiles; any other
// language, or none, fails below unless it is ts/js (checked) or marked.
const NOT_CODE = new Set(['sh', 'text', 'json', 'nginx'])

t.test('every fence has a language, and every ts/js block is compiled or marked not-checked with a reason', async t => {
  for (const file of await markdownFiles()) {
    const lines = (await readFile(new URL(file, root), 'utf8')).split('\n')
    let open = false
    lines.forEach((line, i) => {
      if (!line.startsWith('```')) return
      if (!open) {
        const lang = line.slice(3).trim()
        const known = NOT_CODE.has(lang) || ['ts', 'typescript', 'js', 'javascript', 'mjs'].includes(lang)
        if (!known) t.fail(`${file}:${i + 1}: a fence in ${JSON.stringify(lang)} is neither checked nor a known non-code language`)
      }
      open = !open
    })
  }
  const blocks = await docBlocks(root, await markdownFiles())
  t.ok(blocks.length >= 15, `${blocks.length} ts/js blocks`)
  for (const b of blocks.filter(b => b.notChecked !== null)) {
    t.ok(b.notChecked !== '', `${b.file}:${b.line}: not-checked needs a reason`)
    t.comment(`not checked: ${b.file}:${b.line} (${b.notChecked})`)
  }
  // The package's own published types (dist/, built by npm test and prepare),
  // as a consumer sees them; ws-wrapper ships none, the tests' shim stands in.
  // One wrong block compiled along (same program, no extra cost) proves the check can fail.
  const [wrong] = extractBlocks('<!-- prelude: declare const token: string -->\n```ts\nconst n: number = token\n```\n', 'self-test.md')
  const found = typecheckBlocks(rootDir, [...blocks, wrong], [rootDir + '/test/types-shim/ws-wrapper.d.ts'])
  t.same(found.filter(d => d.block === wrong).map(d => `${d.line}: ${d.message}`), ['3: Type \'string\' is not assignable to type \'number\'.'], 'the wrong block is reported at its Markdown line')
  t.same(found.filter(d => d.block !== wrong).map(d => `${d.block.file}:${d.line}: ${d.message}`), [], 'tsc (strict) reports nothing')
})

t.test('the block markers: not-checked with its reason, a prelude over several lines, a named module', async t => {
  const md = [
    '<!-- not-checked: needs a browser -->', '```js', 'document.title = 1', '```', '',
    '<!-- prelude:', 'declare const token: string', '-->', '', '```ts', '// events.ts', 'export const x = token', '```',
    '```ts', 'plain()', '```',
  ].join('\n')
  const [a, b, c] = extractBlocks(md, 'x.md')
  t.same([a.notChecked, a.lang, a.line], ['needs a browser', 'js', 2])
  t.same([b.notChecked, b.prelude, b.module, b.line], [null, 'declare const token: string', 'events', 10])
  t.same([c.notChecked, c.prelude, c.module], [null, '', null])
})

t.test('the README\'s raw closure-client Node block runs against a started server and gets its answer', async t => {
  const blocks = (await docBlocks(root, ['README.md'])).filter(b => b.code.includes('FetchXmlHttpFactory'))
  t.equal(blocks.length, 1, 'one such block')
  const calls: Array<{ principal: unknown, text: string, id: string }> = []
  const s = await startApp({ principal: (req) => (req.query as { token?: string }).token === 'alice-token' ? { name: 'alice' } : null }, app => {
    app.webchannel.on('chat.send', {
      args: [Type.Object({ room: Type.String(), text: Type.String() })],
      response: Type.Object({ id: Type.String(), ts: Type.Number() }),
    }, (ctx, msg) => {
      const id = randomUUID()
      calls.push({ principal: ctx.principal, text: msg.text, id })
      return { id, ts: Date.now() }
    })
  }, app => {
    app.addHook('onRequest', async (req, reply) => {
      if ((req.query as { token?: string }).token !== 'alice-token') return reply.code(401).send({ error: 'Unauthorized' })
    })
  })
  t.teardown(() => s.app.close())
  const origin = new URL(s.url).origin
  const code = blocks[0].code.replaceAll('http://127.0.0.1:3000', origin)
  t.not(code, blocks[0].code, 'the only change: the server\'s port')
  // The block as a Node ES module, from the repository (its imports resolve to node_modules).
  const child = spawn(process.execPath, ['--input-type=module', '--eval', code], { cwd: rootDir, env: { ...process.env, TOKEN: 'alice-token' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise(resolve => child.once('exit', resolve))
  t.teardown(async () => { child.kill(); await exited })
  let out = ''
  let err = ''
  child.stderr.on('data', (c: Buffer) => { err += c.toString() })
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
      if (calls.length > 0 && out.includes(calls[0].id)) resolve()
    })
    child.once('exit', () => reject(new Error(`the block exited before printing its answer; stdout ${out}; stderr ${err}`)))
  })
  t.same(calls.map(c => [c.principal, c.text]), [[{ name: 'alice' }, 'hi from Node']], 'the server got the message, from the token\'s principal')
  t.match(out, /\{\s+i: 1,\s+d: \{ id: '[\w-]+', ts: \d+ \}\s+\}/, 'the block printed the answer to request 1')
})
