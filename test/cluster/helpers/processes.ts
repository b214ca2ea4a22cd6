// Real processes for the multi-instance tests: a redis-server of their own on
// a free port, and app instances (test/fixtures/store-instance.ts) as child
// processes, each stopped gracefully (SIGTERM) or killed (SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort } from '../../deploy/helpers/nginx.js'

const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..')
export const REDIS_SERVER = '/usr/bin/redis-server'

export interface Proc {
  child: ChildProcess
  port: number
  /** Everything the process printed, stdout and stderr. */
  output: () => string
  /** Resolves with the first output line that matches. */
  line: (re: RegExp, timeoutMs?: number) => Promise<string>
  stop: (signal?: NodeJS.Signals) => Promise<void>
}

function watch (child: ChildProcess, port: number): Proc {
  let out = ''
  const waiters = new Set<{ re: RegExp, resolve: (l: string) => void }>()
  const onData = (c: Buffer): void => {
    out += c.toString()
    for (const w of [...waiters]) {
      const m = out.split('\n').find(l => w.re.test(l))
      if (m !== undefined) { waiters.delete(w); w.resolve(m) }
    }
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const exited = child.exitCode !== null ? Promise.resolve() : once(child, 'exit').then(() => {})
  return {
    child,
    port,
    output: () => out,
    line (re, timeoutMs = 20_000) {
      const seen = out.split('\n').find(l => re.test(l))
      if (seen !== undefined) return Promise.resolve(seen)
      return new Promise((resolve, reject) => {
        const w = { re, resolve: (l: string) => { clearTimeout(timer); resolve(l) } }
        const timer = setTimeout(() => { waiters.delete(w); reject(new Error(`no line ${String(re)} within ${timeoutMs} ms; output:\n${out.slice(-2000)}`)) }, timeoutMs)
        waiters.add(w)
      })
    },
    async stop (signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 10_000).unref())])
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
      await exited
    },
  }
}

/** A redis-server of the test's own, without persistence, on a free port (or `port`: a restart). */
export async function startRedis (port?: number): Promise<Proc> {
  const p = port ?? await freePort()
  const child = spawn(REDIS_SERVER, ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const proc = watch(child, p)
  await proc.line(/Ready to accept connections/)
  return proc
}

/** An app instance (store-instance.ts) on a free port; resolves once it listens. */
export async function startInstance (env: { REDIS_PORT: number, KEY: string, NAME: string, PORT?: number }): Promise<Proc> {
  const port = env.PORT ?? await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'test', 'fixtures', 'store-instance.ts')], {
    cwd: root,
    // tsx, not tap's loader: its coverage would be merged with tap's and scramble the line counts.
    env: { ...process.env, PORT: String(port), REDIS_PORT: String(env.REDIS_PORT), KEY: env.KEY, NAME: env.NAME, _TAPJS_PROCESSINFO_COVERAGE_: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const proc = watch(child, port)
  await proc.line(/^listening \d+/, 60_000)
  return proc
}
