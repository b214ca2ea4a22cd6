// Debian's nginx as an ordinary process on 127.0.0.1: a config written into a
// temp dir, no daemon, its own pid and logs. Missing nginx fails under CI.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { nginxConf, type Setup } from './nginx-conf.js'

export const NGINX = '/usr/sbin/nginx'

/** Whether the suite can run here; under CI a missing tool is a failure, not a skip. */
export function toolsPresent (t: Test, tools: string[] = [NGINX]): boolean {
  const missing = tools.filter(p => !existsSync(p))
  if (missing.length === 0) return true
  if (process.env.CI !== undefined) t.fail(`missing ${missing.join(', ')} (apt-get install nginx chromium openssl)`)
  else t.plan(0, `missing ${missing.join(', ')}`)
  return false
}

/** A port that was free a moment ago. */
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo
      srv.close(() => resolve(port))
    })
  })
}

export interface Nginx {
  port: number
  dir: string
  /** The error log so far (for failure messages). */
  errorLog (): Promise<string>
  /** The access log so far: one line per request, with its URL and status. */
  accessLog (): Promise<string>
  stop (): Promise<void>
}

/** A self-signed certificate for 127.0.0.1, made with openssl for this run. */
export function selfSigned (dir: string): { cert: string, key: string } {
  const cert = join(dir, 'cert.pem')
  const key = join(dir, 'key.pem')
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  return { cert, key }
}

/** Wait (bounded) until something accepts connections on the port. */
async function listening (port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs
  for (let i = 0; i < 200 && Date.now() < until; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode}`)
    const ok = await new Promise<boolean>(resolve => {
      const s = net.connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise(resolve => setTimeout(resolve, 25))
  }
  throw new Error(`nginx did not listen on ${port} within ${deadlineMs} ms`)
}

export async function startNginx (setup: Omit<Setup, 'listenPort' | 'tls'> & { tls?: boolean }): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'wc-nginx-'))
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) await mkdir(join(dir, d))
  const listenPort = await freePort()
  const tls = setup.tls === true ? selfSigned(dir) : undefined
  const conf = join(dir, 'nginx.conf')
  await writeFile(conf, nginxConf(dir, { ...setup, listenPort, tls }))
  const child = spawn(NGINX, ['-p', dir, '-c', conf, '-g', `daemon off; pid ${dir}/nginx.pid;`], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
  const exited = new Promise<void>(resolve => child.once('exit', () => resolve()))
  try {
    await listening(listenPort, child, 10_000)
  } catch (err) {
    child.kill('SIGKILL')
    throw new Error(`${(err as Error).message}\n${stderr}\n${await readFile(join(dir, 'error.log'), 'utf8').catch(() => '')}`)
  }
  return {
    port: listenPort,
    dir,
    errorLog: () => readFile(join(dir, 'error.log'), 'utf8').catch(() => ''),
    accessLog: () => readFile(join(dir, 'access.log'), 'utf8').catch(() => ''),
    async stop () {
      // SIGQUIT would wait for open streams; the test is over.
      if (child.exitCode === null) child.kill('SIGTERM')
      await Promise.race([exited, new Promise(resolve => setTimeout(resolve, 3000).unref())])
      if (child.exitCode === null) child.kill('SIGKILL')
      await rm(dir, { recursive: true, force: true })
    },
  }
}
