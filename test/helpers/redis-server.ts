import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'

/** A port free on 127.0.0.1 now (the OS's pick). */
export async function freePort (): Promise<number> {
  const srv = net.createServer()
  srv.listen(0, '127.0.0.1')
  await once(srv, 'listening')
  const port = (srv.address() as net.AddressInfo).port
  await new Promise(resolve => srv.close(resolve))
  return port
}

/** Poll `check` every 25 ms until it holds; fails after `ms`. */
export async function until (what: string, check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

/**
 * A redis-server of its own on `port` (127.0.0.1, no persistence), as a child
 * process: started, stopped (SIGTERM) and started again on the same port.
 */
export class RedisServer {
  readonly port: number
  private child: ChildProcess | null = null
  private readonly extra: string[]

  constructor (port: number, extra: string[] = []) {
    this.port = port
    this.extra = extra
  }

  async start (): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...this.extra], { stdio: ['ignore', 'pipe', 'pipe'] })
    this.child = child
    let out = ''
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (c: Buffer) => {
        out += c.toString()
        if (out.includes('Ready to accept connections')) resolve()
      })
      child.once('exit', code => reject(new Error(`redis-server exited (${code}): ${out}`)))
    })
  }

  async stop (): Promise<void> {
    const child = this.child
    this.child = null
    if (child === null || child.exitCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    await exited
  }
}
