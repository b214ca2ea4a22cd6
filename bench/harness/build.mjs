// Build ours once per bench run (esbuild, npm packages left external so node
// resolves them from the repo's node_modules), and describe the machine.
import { execFileSync } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, release, tmpdir, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export async function buildOurs (outDir, { patch = null, name = 'ours.mjs' } = {}) {
  const outfile = join(outDir, name)
  let src = root
  if (patch !== null) {
    // A copy of lib/ (and the bench server) with a proposed patch applied; lib/ itself is untouched.
    src = mkdtempSync(join(tmpdir(), 'webchannel-bench-'))
    cpSync(join(root, 'lib'), join(src, 'lib'), { recursive: true })
    cpSync(join(root, 'bench', 'servers'), join(src, 'bench', 'servers'), { recursive: true })
    execFileSync('git', ['apply', '--unsafe-paths', `--directory=${src.slice(1)}`, '-p1', patch], { cwd: '/', stdio: 'pipe' })
  }
  await build({
    entryPoints: [join(src, 'bench', 'servers', 'ours.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
  })
  if (patch !== null) rmSync(src, { recursive: true, force: true })
  return outfile
}

function version (pkg) {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')).version
  } catch {
    return null
  }
}

export function machineInfo () {
  let commit = null
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()
  } catch {}
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    commit,
    versions: Object.fromEntries(['ws', 'fastify', '@fastify/websocket', 'socket.io', 'engine.io', 'browserchannel', 'typebox'].map(p => [p, version(p)])),
  }
}
