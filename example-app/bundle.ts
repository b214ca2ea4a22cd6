// The page script, bundled in memory with esbuild at startup: web/main.ts and
// the client library. The WebChannel client lands in its own chunk, loaded
// only when the page falls back (or is told to use WebChannel).
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

export interface Asset { type: string, body: Buffer }

export async function bundlePage (): Promise<Map<string, Asset>> {
  const result = await build({
    entryPoints: { app: fileURLToPath(new URL('./web/main.ts', import.meta.url)) },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    sourcemap: false,
    write: false,
    outdir: '/assets',
    chunkNames: 'chunk-[hash]',
    logLevel: 'silent',
  })
  const assets = new Map<string, Asset>()
  for (const f of result.outputFiles) {
    const name = f.path.slice(f.path.lastIndexOf('/') + 1)
    assets.set(name, { type: 'text/javascript; charset=utf-8', body: Buffer.from(f.contents) })
  }
  return assets
}
