// The package as a new user installs it: `npm pack`, installed with registry
// dependencies into an app in os.tmpdir() (see consumer-app.ts). There a
// server with the plugin on 127.0.0.1 talks over WebSocket with the client
// subpaths; require() loads the ESM-only package (Node >= 20.19); and a
// browser bundle of the WebSocket-only client builds without the optional
// @firebase/webchannel-wrapper installed.
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { build } from 'esbuild'
import { consumerApp, runOk } from './consumer-app.js'

const started = Date.now()
const app = await consumerApp()
t.comment(`consumer app ${app.dir}: ${app.reused ? 'reused' : `packed and installed in ${app.installSeconds.toFixed(1)} s`}`)
const installed = join(app.dir, 'node_modules/fastify-webchannel')

async function walk (dir: string, base = ''): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const rel = base + e.name
    if (e.isDirectory()) out.push(...await walk(join(dir, e.name), rel + '/'))
    else out.push(rel)
  }
  return out
}

t.test('the tarball holds the build, the docs and nothing else', async t => {
  const files = await walk(installed)
  t.ok(files.includes('package.json') && files.includes('README.md') && files.includes('LICENSE') && files.includes('CHANGELOG.md'))
  t.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'))
  t.ok(files.includes('dist/client/index.js') && files.includes('dist/client/websocket.js'))
  t.same(files.filter(f => !/^dist\/.*\.(js|d\.ts)$/.test(f) && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(f)), [],
    'no sources, tests, source maps or build stamps')
  // Every exported path exists.
  const pkg = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8')) as { exports: Record<string, string | Record<string, string>> }
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    for (const file of typeof target === 'string' ? [target] : Object.values(target)) {
      t.ok(files.includes(file.slice(2)), `${subpath} → ${file}`)
    }
  }
  t.notOk(files.some(f => f.startsWith('node_modules/')), 'nothing bundled')
  const peers = await readdir(join(app.dir, 'node_modules/@firebase')).catch(() => [])
  t.same(peers, [], 'the optional peer @firebase/webchannel-wrapper is not installed')
})

t.test('a server with the plugin and the client subpaths talk over WebSocket', async t => {
  await writeFile(join(app.dir, 'talk.mjs'), `
import Fastify from 'fastify'
import webchannel from 'fastify-webchannel'
import { connect } from 'fastify-webchannel/client'
import { connect as connectWebSocketOnly } from 'fastify-webchannel/client/websocket'
import WebSocket from 'ws'

const app = Fastify()
await app.register(webchannel)
app.webchannel.on('echo', (_ctx, value) => value)
app.webchannel.on('hello', (ctx, name) => { ctx.session.emit('greeting', 'hello ' + name) })
await app.listen({ host: '127.0.0.1', port: 0 })
const base = 'http://127.0.0.1:' + app.server.address().port + '/channel'
const results = {}
for (const [entry, connectWith] of [['fastify-webchannel/client', connect], ['fastify-webchannel/client/websocket', connectWebSocketOnly]]) {
  const client = connectWith(base, { WebSocket, reconnect: false })
  const open = await new Promise((resolve, reject) => { client.on('open', resolve); client.on('error', reject) })
  const greeting = new Promise(resolve => client.on('greeting', resolve))
  client.emit('hello', entry)
  results[entry] = { open, echo: await client.request('echo', { n: 1, s: 'ü' }), greeting: await greeting }
  client.close()
}
await app.close()
console.log(JSON.stringify({ results, plugin: import.meta.resolve('fastify-webchannel'), client: import.meta.resolve('fastify-webchannel/client') }))
`)
  const r = await runOk(process.execPath, ['talk.mjs'], app.dir, 30_000)
  const out = JSON.parse(r.stdout) as { results: Record<string, unknown>, plugin: string, client: string }
  t.equal(out.plugin, 'file://' + join(installed, 'dist/index.js'), 'the installed package, not this repo')
  t.equal(out.client, 'file://' + join(installed, 'dist/client/index.js'))
  for (const entry of ['fastify-webchannel/client', 'fastify-webchannel/client/websocket']) {
    t.same(out.results[entry], {
      open: { transport: 'websocket', reconnected: false, resumed: false, restored: [] },
      echo: { n: 1, s: 'ü' },
      greeting: 'hello ' + entry,
    }, entry)
  }
})

t.test('require() loads the ESM-only package (Node >= 20.19)', async t => {
  const [major, minor] = process.versions.node.split('.').map(Number)
  t.ok(major > 20 || (major === 20 && minor >= 19), `running on Node ${process.versions.node}`)
  const r = await runOk(process.execPath, ['--input-type=commonjs', '-e', `
const plugin = require('fastify-webchannel')
const client = require('fastify-webchannel/client')
const ws = require('fastify-webchannel/client/websocket')
console.log(JSON.stringify({ default: typeof plugin.default, RedisAdapter: typeof plugin.RedisAdapter, connect: typeof client.connect, wsConnect: typeof ws.connect }))
`], app.dir, 30_000)
  t.same(JSON.parse(r.stdout), { default: 'function', RedisAdapter: 'function', connect: 'function', wsConnect: 'function' })
})

t.test('the WebSocket-only client bundles without @firebase/webchannel-wrapper; the full client does not', async t => {
  await writeFile(join(app.dir, 'page-ws.js'), "import { connect } from 'fastify-webchannel/client/websocket'\nconnect('/channel').on('open', () => {})\n")
  await writeFile(join(app.dir, 'page-full.js'), "import { connect } from 'fastify-webchannel/client'\nconnect('/channel').on('open', () => {})\n")
  const options = { absWorkingDir: app.dir, bundle: true, format: 'esm', platform: 'browser', minify: true, write: false, logLevel: 'silent' } as const
  const ws = await build({ ...options, entryPoints: ['page-ws.js'] })
  t.equal(ws.outputFiles.length, 1)
  t.notMatch(ws.outputFiles[0].text, /webchannel-wrapper|webchannel-blob/)
  await t.rejects(build({ ...options, entryPoints: ['page-full.js'] }), /Could not resolve "@firebase\/webchannel-wrapper\/webchannel-blob"/,
    'fastify-webchannel/client needs the optional peer installed to bundle')
})

t.teardown(() => { t.comment(`pack.test.ts took ${((Date.now() - started) / 1000).toFixed(1)} s`) })
