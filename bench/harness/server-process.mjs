// Start a bench server as a child process (pinned to CPU 0 when asked), wait for
// its ready line (port + control port), and stop it again.
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from '../load/http.mjs'

const benchDir = join(dirname(fileURLToPath(import.meta.url)), '..')

export function startServer (server, scripts, { pin = false, extraFlags = [] } = {}) {
  const script = scripts[server.script] ?? join(benchDir, server.script)
  const args = ['--expose-gc', ...extraFlags, script]
  const env = { ...process.env, NODE_ENV: 'production' }
  const child = pin
    ? spawn('taskset', ['-c', '0', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env })
  return new Promise((resolve, reject) => {
    let out = ''
    let err = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${server.label} did not start within 20 s: ${err.slice(0, 300)}`))
    }, 20_000)
    child.stderr.on('data', (d) => { err += d })
    child.stdout.on('data', (d) => {
      out += d
      const nl = out.indexOf('\n')
      if (nl === -1) return
      clearTimeout(timer)
      try {
        const line = JSON.parse(out.slice(0, nl))
        resolve({ child, port: line.port, control: line.control, stderr: () => err })
      } catch {
        child.kill('SIGKILL')
        reject(new Error(`${server.label} printed ${out.slice(0, 200)}`))
      }
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${server.label} exited with ${code}: ${err.slice(0, 300)}`))
    })
  })
}

/** Ask the server to exit (so --cpu-prof can write its profile), then make sure it is gone. */
export async function stopServer (proc) {
  const exited = new Promise(resolve => {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) resolve()
    else proc.child.once('exit', resolve)
  })
  try {
    await Promise.race([request(proc.control, 'GET', '/exit'), new Promise(resolve => setTimeout(resolve, 1000))])
  } catch {}
  const t = setTimeout(() => proc.child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(t)
}

/** true when ours answers a WebChannel handshake; otherwise why not. */
export async function probeWebChannel (server, scripts) {
  let proc
  try {
    proc = await startServer(server, scripts)
    const r = await request(proc.port, 'POST', `${server.target.base}?VER=8&RID=1&CVER=22&zx=probe&t=1`, 'count=0')
    if (r.status === 200 && r.body.includes('"c"')) return true
    return `WebChannel transport not in lib/ yet (handshake answered HTTP ${r.status})`
  } catch (err) {
    return `WebChannel probe failed: ${err.message}`
  } finally {
    if (proc !== undefined) await stopServer(proc)
  }
}
