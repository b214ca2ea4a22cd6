// A consumer app outside this repo with the packed package installed, as a new
// user gets it: `npm pack` of this repo, then `npm install` of that tarball
// plus fastify, typebox, ws and @types/node from the npm registry (npm's cache
// first, --prefer-offline) into a folder in os.tmpdir(). Nothing is linked
// to this repo's node_modules.
//
// The package tests share one install: it is keyed by the tarball's sha256
// (npm pack is reproducible) and made under a lock, so test files running in
// parallel install once, and a later run with the same package reuses it.
// Older consumer folders are removed when a new one is made.
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repo = fileURLToPath(new URL('../../', import.meta.url))
const PREFIX = 'fastify-webchannel-consumer-'
const LOCK = join(tmpdir(), 'fastify-webchannel-consumer.lock')

export interface Run { code: number | null, stdout: string, stderr: string }

/**
 * The environment without what an outer `npm test` exported: npm_config_local_prefix
 * would point an inner `npm install` at this repo. The npm settings a user may have
 * given through the environment (cache, registry, config files, CA) are kept.
 */
export function cleanEnv (): NodeJS.ProcessEnv {
  const keep = new Set(['npm_config_cache', 'npm_config_registry', 'npm_config_userconfig', 'npm_config_globalconfig', 'npm_config_cafile'])
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.toLowerCase().startsWith('npm_') || keep.has(k.toLowerCase())))
}

/** Runs a command (no shell), collecting its output; rejects only if it cannot start or times out. */
export function run (cmd: string, args: string[], cwd: string, timeout = 120_000, env: NodeJS.ProcessEnv = cleanEnv()): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${cmd} ${args.join(' ')} timed out after ${timeout} ms\n${stdout}\n${stderr}`))
    }, timeout)
    child.on('error', err => { clearTimeout(timer); reject(err) })
    child.on('close', code => { clearTimeout(timer); resolve({ code, stdout, stderr }) })
  })
}

/** Like run(), but rejects with the output on a non-zero exit. */
export async function runOk (cmd: string, args: string[], cwd: string, timeout?: number, env?: NodeJS.ProcessEnv): Promise<Run> {
  const r = await run(cmd, args, cwd, timeout, env)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`)
  return r
}

/** An inter-process lock: mkdir is atomic. A lock older than 5 minutes is from a killed run. */
async function withLock<T> (fn: () => Promise<T>): Promise<T> {
  const started = Date.now()
  for (;;) {
    try {
      await mkdir(LOCK)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const age = Date.now() - (await stat(LOCK).then(s => s.mtimeMs, () => Date.now()))
      if (age > 300_000) await rm(LOCK, { recursive: true, force: true })
      else if (Date.now() - started > 180_000) throw new Error('timed out waiting for ' + LOCK)
      else await new Promise(resolve => setTimeout(resolve, 200))
    }
  }
  try {
    return await fn()
  } finally {
    await rm(LOCK, { recursive: true, force: true })
  }
}

export interface ConsumerApp {
  /** The app folder: package.json, node_modules/fastify-webchannel from the tarball. */
  dir: string
  /** Seconds spent building, packing and installing (0 when an earlier install was reused). */
  installSeconds: number
  reused: boolean
}

/** The consumer app for the current sources (built first if dist/ is stale). */
export function consumerApp (): Promise<ConsumerApp> {
  return withLock(async () => {
    const started = Date.now()
    // dist/ as `npm pack` would build it through prepare; a no-op after npm test's own build.
    await runOk(process.execPath, [join(repo, 'scripts/build.mjs'), '--if-stale'], repo)
    const packDir = await mkdtemp(join(tmpdir(), 'fastify-webchannel-pack-'))
    try {
      const packed = await runOk('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir], repo)
      const filename = (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0].filename
      const tarball = join(packDir, filename)
      const sha = createHash('sha256').update(await readFile(tarball)).digest('hex').slice(0, 16)
      const dir = join(tmpdir(), PREFIX + sha)
      if (existsSync(join(dir, '.installed'))) return { dir, installSeconds: 0, reused: true }
      for (const name of await readdir(tmpdir())) {
        if (name.startsWith(PREFIX)) await rm(join(tmpdir(), name), { recursive: true, force: true })
      }
      await mkdir(dir, { recursive: true })
      await copyFile(tarball, join(dir, 'fastify-webchannel.tgz'))
      const ours = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as Record<string, Record<string, string>>
      const range = (name: string) => ours.dependencies[name] ?? ours.devDependencies[name]
      await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2) + '\n')
      await runOk('npm', [
        'install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error',
        './fastify-webchannel.tgz', `fastify@${range('fastify')}`, `typebox@${range('typebox')}`,
        `ws@${range('ws')}`, `@types/node@${range('@types/node')}`,
      ], dir, 170_000)
      await writeFile(join(dir, '.installed'), new Date().toISOString() + '\n')
      return { dir, installSeconds: (Date.now() - started) / 1000, reused: false }
    } finally {
      await rm(packDir, { recursive: true, force: true })
    }
  })
}
