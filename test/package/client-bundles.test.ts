// The two client entry points, bundled for the browser the way the README
// reports sizes (esbuild --bundle --minify --format=esm, gzip -9):
// - fastify-webchannel/client/websocket never references
//   @firebase/webchannel-wrapper: it bundles with the package made
//   unresolvable, into one file with no lazy chunk;
// - fastify-webchannel/client keeps closure's client in a lazy chunk.
// Sizes go to test/artifacts/client-bundles.json (ignored by git).
import { mkdir, writeFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import t from 'tap'
import { build, type Plugin } from 'esbuild'

const lib = (p: string) => fileURLToPath(new URL('../../lib/client/' + p, import.meta.url))
const artifacts = fileURLToPath(new URL('../artifacts/', import.meta.url))

/** Fails the build if anything resolves the optional peer. */
const noWrapper: Plugin = {
  name: 'no-webchannel-wrapper',
  setup (b) {
    b.onResolve({ filter: /webchannel-wrapper/ }, args => ({ errors: [{ text: `${args.importer} references ${args.path}` }] }))
  },
}

async function bundle (entry: string, plugins: Plugin[] = []) {
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
    logLevel: 'silent',
    plugins,
  })
  return result.outputFiles.map(f => ({ name: f.path.slice(5), text: f.text, raw: f.contents.length, gz: gzipSync(f.contents, { level: 9 }).length }))
}

t.test('WebSocket-only and full client bundles', async t => {
  const ws = await bundle(lib('websocket.ts'), [noWrapper])
  t.same(ws.map(f => f.name), ['client.js'], 'one file, no lazy chunk')
  t.notMatch(ws[0].text, /webchannel-wrapper|webchannel[-_]blob|goog\./, 'no reference to closure\'s WebChannel client')
  t.notMatch(ws[0].text, /import\(/, 'no dynamic import')

  await t.rejects(bundle(lib('index.ts'), [noWrapper]), /references @firebase\/webchannel-wrapper\/webchannel-blob/,
    'the full entry does reference it (the check above can fail)')

  const full = await bundle(lib('index.ts'))
  const lazy = full.filter(f => f.name.startsWith('webchannel_blob_es2018-'))
  t.equal(lazy.length, 1, 'closure\'s client is one lazy chunk of the full entry')
  const core = full.filter(f => !lazy.includes(f))
  const sum = (fs: typeof full, k: 'raw' | 'gz') => fs.reduce((n, f) => n + f[k], 0)
  const sizes = {
    websocketOnly: { minified: ws[0].raw, gzip: ws[0].gz },
    full: {
      coreMinified: sum(core, 'raw'),
      coreGzip: sum(core, 'gz'),
      webchannelChunkMinified: sum(lazy, 'raw'),
      webchannelChunkGzip: sum(lazy, 'gz'),
      totalMinified: sum(full, 'raw'),
      totalGzip: sum(full, 'gz'),
    },
  }
  t.comment(JSON.stringify(sizes))
  t.ok(sizes.websocketOnly.gzip <= sizes.full.coreGzip, 'the WebSocket-only bundle is no larger than the full core')
  t.ok(sizes.websocketOnly.gzip < 9 * 1024, `WebSocket-only under 9 KiB gzipped (WebSocket resume added 0.8 KiB) (${sizes.websocketOnly.gzip} B)`)
  await mkdir(artifacts, { recursive: true })
  await writeFile(artifacts + 'client-bundles.json', JSON.stringify(sizes, null, 2) + '\n')
})
