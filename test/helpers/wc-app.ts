// A real server with the plugin on 127.0.0.1:0 for the WebChannel tests.
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import webchannel, { type WebChannelOptions } from '../../lib/index.js'

export interface WcServer {
  app: FastifyInstance
  port: number
  origin: string
  /** Absolute URL of the bind handler (the client needs an absolute URL in Node). */
  url: string
}

export async function startWcServer (
  options: WebChannelOptions = {},
  setup?: (app: FastifyInstance) => void | Promise<void>,
  pre?: (app: FastifyInstance) => void | Promise<void>,
  serverOptions: FastifyServerOptions = {}
): Promise<WcServer> {
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'silent' }, ...serverOptions })
  if (pre !== undefined) await pre(app)
  await app.register(webchannel, options)
  if (setup !== undefined) await setup(app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  const origin = `http://127.0.0.1:${port}`
  return { app, port, origin, url: origin + (options.prefix ?? '/channel') }
}

/** Resolves when `fn` returns a value other than undefined (polled on each macrotask turn). */
export async function until<T> (fn: () => T | undefined, what: string, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error('timed out waiting for ' + what)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** Requests the Node XHR stand-in made to this server, as one line each (for failure messages). */
export function describe (records: ReadonlyArray<{ method: string, url: string, status: number, responseText: string, outcome: string | null }>, origin: string): string {
  return records.map(r => `${r.method} ${r.url.replace(origin, '')} -> ${r.status} ${JSON.stringify(r.responseText.slice(0, 200))} ${r.outcome}`).join('\n')
}
