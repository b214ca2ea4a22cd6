import Fastify, { type FastifyInstance } from 'fastify'
import webchannel, { type WebChannelOptions } from '../../lib/index.js'

export interface Started {
  app: FastifyInstance
  url: string
  wsUrl: string
  port: number
}

/** A real server on 127.0.0.1:0; `setup` runs before listen. Closed by the caller (t.teardown). */
export async function startApp (options: WebChannelOptions = {}, setup?: (app: FastifyInstance) => void | Promise<void>, pre?: (app: FastifyInstance) => void | Promise<void>): Promise<Started> {
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'silent' } })
  if (pre !== undefined) await pre(app)
  await app.register(webchannel, process.env.NO_WC === '1' ? { ...options, webchannel: { ...options.webchannel, enabled: false } } : options)
  if (setup !== undefined) await setup(app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const port = (app.server.address() as { port: number }).port
  const prefix = options.prefix ?? '/channel'
  return { app, port, url: `http://127.0.0.1:${port}${prefix}`, wsUrl: `ws://127.0.0.1:${port}${prefix}${options.websocket?.path ?? '/ws'}` }
}
