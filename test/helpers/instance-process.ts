import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'

const SCRIPT = new URL('../fixtures/redis-instance.ts', import.meta.url).pathname

/** An app instance as a child process (test/fixtures/redis-instance.ts), its output kept. */
export interface InstanceProcess {
  port: number
  url: string
  wsUrl: string
  /** Milliseconds from spawn to listening. */
  bootMs: number
  /** Milliseconds from making the adapter (after imports) to listening. */
  startMs: number
  stdout: () => string
  stderr: () => string
  /** Its JSON log lines whose `msg` contains `text`. */
  logs: (text: string) => Array<Record<string, unknown>>
  get: (path: string) => Promise<any>
  stop: () => Promise<void>
}

export async function startInstance (env: Record<string, string>): Promise<InstanceProcess> {
  const started = Date.now()
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SCRIPT], {
    // tsx, not tap's loader: its coverage would be merged with tap's and scramble the line counts.
    env: { ...process.env, ...env, _TAPJS_PROCESSINFO_COVERAGE_: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stderr?.on('data', (c: Buffer) => { err += c.toString() })
  const [port, startMs] = await new Promise<[number, number]>((resolve, reject) => {
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString()
      const m = /LISTENING (\d+) (\d+)/.exec(out)
      if (m !== null) resolve([Number(m[1]), Number(m[2])])
    })
    child.once('exit', code => reject(new Error(`instance exited (${code}) before listening:\n${out}\n${err}`)))
  })
  const bootMs = Date.now() - started
  const base = `http://127.0.0.1:${port}`
  return {
    port,
    startMs,
    url: base,
    wsUrl: `ws://127.0.0.1:${port}/channel/ws`,
    bootMs,
    stdout: () => out,
    stderr: () => err,
    logs: (text) => out.split('\n').filter(l => l.startsWith('{')).map(l => JSON.parse(l) as Record<string, unknown>)
      .filter(l => typeof l.msg === 'string' && l.msg.includes(text)),
    get: async (path) => {
      const res = await fetch(base + path)
      const type = res.headers.get('content-type') ?? ''
      return type.includes('json') ? res.json() : res.text()
    },
    stop: async () => {
      if (child.exitCode !== null) return
      const exited = once(child, 'exit')
      child.kill('SIGTERM')
      await exited
    },
  }
}
