import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import type { WebChannelOptions } from '../../lib/index.js'
import type { Session } from '../../lib/session/session.js'
import type { Client, ClientOptions, EventMap, LifecycleEvent, LifecycleEvents, WebSocketConstructor } from '../../lib/client/index.js'
import { startApp, type Started } from './app.js'

/** Sessions as they open, in order: `next()` awaits the next one. */
export class SessionFeed {
  private readonly seen: Session[] = []
  private readonly waiters: Array<(s: Session) => void> = []
  push (s: Session): void {
    const w = this.waiters.shift()
    if (w !== undefined) w(s)
    else this.seen.push(s)
  }

  next (): Promise<Session> {
    const s = this.seen.shift()
    if (s !== undefined) return Promise.resolve(s)
    return new Promise(resolve => this.waiters.push(resolve))
  }
}

export interface ClientServer extends Started {
  sessions: SessionFeed
  base: string
}

/** A real server for client tests: sessions are fed to `sessions` as they open. */
export async function startClientServer (setup: (app: FastifyInstance) => void | Promise<void>, options: WebChannelOptions = {}, pre?: (app: FastifyInstance) => void | Promise<void>, port = 0): Promise<ClientServer> {
  const sessions = new SessionFeed()
  const s = await startAppOnPort({ ...options, onConnection: (session) => sessions.push(session) }, setup, pre, port)
  return { ...s, sessions, base: s.url }
}

async function startAppOnPort (options: WebChannelOptions, setup: (app: FastifyInstance) => void | Promise<void>, pre: ((app: FastifyInstance) => void | Promise<void>) | undefined, port: number): Promise<Started> {
  if (port === 0) return startApp(options, setup, pre)
  const Fastify = (await import('fastify')).default
  const webchannel = (await import('../../lib/index.js')).default
  const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'silent' } })
  if (pre !== undefined) await pre(app)
  await app.register(webchannel, options)
  await setup(app)
  await app.listen({ host: '127.0.0.1', port })
  const prefix = options.prefix ?? '/channel'
  return { app, port, url: `http://127.0.0.1:${port}${prefix}`, wsUrl: `ws://127.0.0.1:${port}${prefix}/ws` }
}

/** Every text frame that crossed a client's WebSocket, both ways, parsed. */
export interface WireLog {
  sent: unknown[]
  /** Every frame received, except the resume hello (see `hellos`). */
  received: unknown[]
  /** The server's resume hello frames (`webchannel.session`), one per resumable socket. */
  hellos: unknown[]
  urls: string[]
}

/** The `ws` package's WebSocket, recording frames and URLs (what crosses the wire). */
export function recordingWebSocket (): { WebSocket: WebSocketConstructor, log: WireLog } {
  const log: WireLog = { sent: [], received: [], hellos: [], urls: [] }
  class Recording extends WebSocket {
    constructor (url: string) {
      super(url)
      log.urls.push(url)
      this.on('message', (data, isBinary) => {
        if (isBinary) return
        const frame = JSON.parse(data.toString()) as { a?: unknown[] }
        if (frame.a?.[0] === 'webchannel.session') log.hellos.push(frame)
        else log.received.push(frame)
      })
    }

    override send (data: unknown, ...rest: unknown[]): void {
      if (typeof data === 'string') log.sent.push(JSON.parse(data))
      ;(super.send as (...a: unknown[]) => void)(data, ...rest)
    }
  }
  return { WebSocket: Recording, log }
}

/** Fast reconnects for tests (no jitter). */
export const fastReconnect: ClientOptions['reconnect'] = { initialDelay: 20, maxDelay: 200, jitter: 0 }

/** The next lifecycle event of a client. */
export function nextEvent<E extends EventMap, K extends LifecycleEvent> (client: Client<E>, event: K): Promise<Parameters<LifecycleEvents[K]>[0]> {
  return new Promise(resolve => {
    const fn = ((info: Parameters<LifecycleEvents[K]>[0]) => resolve(info)) as LifecycleEvents[K]
    client.once(event, fn)
  })
}

/** Lifecycle events of a client, in order, as [name, info]. */
export function recordEvents<E extends EventMap> (client: Client<E>): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = []
  for (const name of ['open', 'close', 'error', 'reconnecting', 'transport', 'state'] as const) {
    client.on(name, ((info: unknown) => { out.push([name, info]) }) as LifecycleEvents[typeof name])
  }
  return out
}

/**
 * Teardown: close the clients, wait until the server has seen every session
 * end (a WebChannel terminate is an HTTP request of its own), then close the
 * server. Closing the server first would race the terminate requests.
 */
export async function closeAll (app: import('fastify').FastifyInstance, ...clients: Array<{ close (): void }>): Promise<void> {
  const ended = [...app.webchannel.sessions.values()].map(s => new Promise<void>(resolve => {
    if (s.closed) resolve()
    else s.signal.addEventListener('abort', () => resolve(), { once: true })
  }))
  for (const c of clients) c.close()
  await Promise.race([Promise.all(ended), new Promise(resolve => setTimeout(resolve, 2000).unref())])
  await app.close()
}
