// The soak server: the plugin on a real port, in its own process so that the
// load generator's handles and heap never count. Started by bench/soak/soak.mjs
// with --expose-gc (heap after GC) and --expose-internals (every live timer,
// unref'd ones included); it answers requests over IPC (process.send).
import { createRequire } from 'node:module'
import Fastify from 'fastify'
import webchannel, { type WebChannelOptions } from '../../lib/index.js'

const defaults: WebChannelOptions = {
  // One IP opens thousands of sessions a second.
  rateLimit: { messages: false, sessionsPerIp: false, sessionsPerPrincipal: false, unknownSidPerIp: false },
  websocket: { pingInterval: 500, pongTimeout: 500, writeTimeout: 1000, maxBufferedBytes: 256 * 1024 },
  // maxPendingBytes stays at its default (8 MiB): a back channel may carry more than loopback's socket buffers take.
  webchannel: { sessionTimeout: 2000, keepaliveInterval: 1000 },
}
const extra = JSON.parse(process.env.SOAK_OPTIONS ?? '{}') as WebChannelOptions
const options: WebChannelOptions = {
  ...defaults,
  ...extra,
  websocket: { ...defaults.websocket, ...extra.websocket },
  webchannel: { ...defaults.webchannel, ...extra.webchannel },
}

// How sessions ended: shows that the timeouts, not the clients, cleaned up.
const ended: Record<string, number> = {}
options.onSessionEnd = (_session, reason) => { ended[reason] = (ended[reason] ?? 0) + 1 }

const app = Fastify({ logger: false })
// An async hook, as an app's authentication is: `x-soak-delay` makes it take
// that long, so that a client can hang up while it runs (the hang-up phase).
app.addHook('onRequest', async (request) => {
  const delay = Number(request.headers['x-soak-delay'] ?? 0)
  if (delay > 0) await new Promise(resolve => setTimeout(resolve, Math.min(delay, 5000)))
})
await app.register(webchannel, options)
app.webchannel.channel('room:*')
app.webchannel.on('echo', (_ctx, x: unknown) => x)
await app.listen({ host: '127.0.0.1', port: 0 })

const gc = (globalThis as { gc?: () => void }).gc
const timerLists = loadTimerLists()

/** Every live Timeout (ref'd or not): getActiveResourcesInfo() lists only the ref'd ones. */
function loadTimerLists (): (() => number) | null {
  try {
    const internal = createRequire(import.meta.url)('internal/timers') as { timerListMap: Record<string, { _idleNext: unknown }> }
    return () => {
      let n = 0
      for (const list of Object.values(internal.timerListMap)) {
        for (let e = list._idleNext as { _idleNext: unknown }; e !== list; e = e._idleNext as { _idleNext: unknown }) n++
      }
      return n
    }
  } catch {
    return null
  }
}

function snapshot (collect: boolean) {
  if (collect && gc !== undefined) for (let i = 0; i < 3; i++) gc()
  const resources: Record<string, number> = {}
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1
  const mem = process.memoryUsage()
  return {
    stats: app.webchannel.stats(),
    ended: { ...ended },
    timers: timerLists?.() ?? resources.Timeout ?? 0,
    resources,
    heapUsed: mem.heapUsed,
    external: mem.external,
    arrayBuffers: mem.arrayBuffers,
    rss: mem.rss,
  }
}

type Command = { id: number, cmd: 'stats' } | { id: number, cmd: 'probe' } | { id: number, cmd: 'fanout', count: number, size: number } | { id: number, cmd: 'exit' }

async function handle (msg: Command): Promise<unknown> {
  switch (msg.cmd) {
    case 'stats': return snapshot(false)
    case 'probe': return snapshot(true)
    case 'fanout': {
      // One message prepared once for every session: what a slow reader is left holding.
      const payload = 'x'.repeat(msg.size)
      let delivered = 0
      for (let i = 0; i < msg.count; i++) delivered += app.webchannel.all().emit('fill', payload)
      return { delivered }
    }
    case 'exit':
      await app.close()
      setImmediate(() => process.exit(0))
      return {}
  }
}

process.on('message', (msg: Command) => {
  handle(msg).then(
    (result) => process.send?.({ id: msg.id, result }),
    (err: Error) => process.send?.({ id: msg.id, error: err.message }))
})
// The parent is gone: do not outlive it.
process.on('disconnect', () => process.exit(0))
process.send?.({ ready: true, port: (app.server.address() as { port: number }).port })
