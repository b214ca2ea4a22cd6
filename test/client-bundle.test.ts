// The browser bundle stays small: the client core in one chunk, closure's
// WebChannel client in a lazy chunk loaded only on fallback. Sizes are
// measured the way the README reports them (esbuild --minify, gzip -9).
import { mkdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { build } from 'esbuild'

const entry = fileURLToPath(new URL('../lib/client/index.ts', import.meta.url))
const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url))

t.test('core and WebChannel chunks, gzipped', async t => {
  const result = await build({
    entryPoints: { client: entry },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    write: false,
    outdir: '/out',
    metafile: true,
    logLevel: 'silent',
  })
  const files = result.outputFiles.map(f => ({ name: f.path.slice(5), text: f.text, gz: gzipSync(f.contents, { level: 9 }).length, raw: f.contents.length }))
  const entryChunk = files.find(f => f.name === 'client.js')!
  const lazy = files.filter(f => f.name.startsWith('webchannel_blob_es2018-'))
  // The core is the entry plus any chunk of helpers esbuild shares with the lazy chunk.
  const coreFiles = files.filter(f => !lazy.includes(f))
  const core = { text: coreFiles.map(f => f.text).join('\n'), raw: coreFiles.reduce((n, f) => n + f.raw, 0), gz: coreFiles.reduce((n, f) => n + f.gz, 0) }
  t.equal(lazy.length, 1, 'one lazy chunk: closure\'s WebChannel client')
  t.notMatch(core.text, /goog\.|closure/i, 'the WebChannel client is not in the core')
  t.match(entryChunk.text, /import\("\.\/webchannel_blob_es2018-\w+\.js"\)/, 'the core loads it with a dynamic import')
  // No server code in the browser bundle.
  const inputs = Object.keys(result.metafile.inputs)
  t.same(inputs.filter(i => i.startsWith('lib/') && !i.startsWith('lib/client/')), ['lib/codecs/envelope.ts'])
  const sizes = {
    coreMinified: core.raw,
    coreGzip: core.gz,
    webchannelChunkMinified: lazy[0].raw,
    webchannelChunkGzip: lazy[0].gz,
    withWebChannelGzip: core.gz + lazy[0].gz,
  }
  t.comment(JSON.stringify(sizes))
  t.ok(sizes.coreGzip < 9 * 1024, `core under 9 KiB gzipped (WebSocket resume added 0.8 KiB) (${sizes.coreGzip} B)`)
  await mkdir(artifacts, { recursive: true })
  await writeFile(artifacts + 'client-bundle-size.json', JSON.stringify(sizes, null, 2) + '\n')
})
