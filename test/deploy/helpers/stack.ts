// The example app (buildApp) behind a real nginx, plus the page the Chromium
// clients run in. Timeouts are shortened stand-ins: the plugin's keepalive,
// long-poll hold, back-channel age and ping interval are set the way
// docs/deployment.md says to set them for a proxy limit, scaled down so that
// a few seconds stand for minutes of traffic.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { FastifyInstance } from 'fastify'
import { buildApp, type AppOptions } from '../../../example-app/app.js'
import { startNginx, type Nginx } from './nginx.js'
import type { Setup } from './nginx-conf.js'

const here = dirname(fileURLToPath(import.meta.url))
const require = createRequire(import.meta.url)

/**
 * Server options for a proxy read timeout of 2 s and more: the 30 s defaults
 * scaled to about 1/30 (so 2 s stands for nginx's 60 s), the session timeout
 * left generous because the test machine is shared and loaded. pongTimeout
 * stays below pingInterval: a larger one terminates healthy peers today (see
 * the todo in server-points.test.ts).
 */
export const SHORT_CHANNEL: NonNullable<AppOptions['channel']> = {
  websocket: { pingInterval: 1500, pongTimeout: 1200 },
  webchannel: { keepaliveInterval: 1000, longPollTimeout: 1000, backChannelMaxAge: 2500, sessionTimeout: 15_000 },
}

export interface Stack {
  app: FastifyInstance
  nginx: Nginx
  /** http(s)://127.0.0.1:<nginx port> */
  origin: string
  stop (): Promise<void>
}

let pageJs: Promise<string> | null = null

function pageScript (): Promise<string> {
  pageJs ??= build({
    entryPoints: [join(here, '..', '..', 'fixtures', 'deploy-page.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2020',
    logLevel: 'silent',
  }).then(r => r.outputFiles[0].text)
  return pageJs
}

export interface StackOptions {
  proxy: Omit<Setup, 'upstreamPort' | 'listenPort' | 'tls'> & { tls?: boolean }
  app?: AppOptions
  /** Extra routes or handlers on the app before it listens. */
  extend?: (app: FastifyInstance) => void
}

export async function startStack (o: StackOptions): Promise<Stack> {
  const app = await buildApp({ channel: SHORT_CHANNEL, ...o.app })
  const js = await pageScript()
  const bc = await readFile(join(dirname(require.resolve('browserchannel/package.json')), 'dist', 'bcsocket.js'), 'utf8')
  app.get('/__deploy/page.js', async (_req, reply) => reply.type('text/javascript').send(js))
  app.get('/__deploy/bcsocket.js', async (_req, reply) => reply.type('text/javascript').send(bc))
  app.get('/__deploy/page.html', async (_req, reply) => reply.type('text/html').send(
    '<!doctype html><meta charset="utf-8"><title>deploy</title><script src="/__deploy/bcsocket.js"></script><script src="/__deploy/page.js"></script>'))
  o.extend?.(app)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const upstreamPort = (app.server.address() as { port: number }).port
  let nginx: Nginx
  try {
    nginx = await startNginx({ ...o.proxy, upstreamPort })
  } catch (err) {
    await app.close()
    throw err
  }
  return {
    app,
    nginx,
    origin: `${o.proxy.tls === true ? 'https' : 'http'}://127.0.0.1:${nginx.port}`,
    async stop () {
      await nginx.stop()
      await app.close()
    },
  }
}

/**
 * POST /login through the proxy: a token for `name`. Login is not what is
 * tested: on this shared machine the app can be slower than a 2 s proxy
 * timeout at startup, so a 5xx from the proxy is retried (three tries).
 */
export async function login (origin: string, name: string): Promise<string> {
  let status = 0
  for (let attempt = 0; attempt < 3; attempt++) {
    const res = await fetch(origin + '/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name }) })
    status = res.status
    if (status === 200) return ((await res.json()) as { token: string }).token
    await res.body?.cancel()
    if (status < 500) break
  }
  throw new Error(`login: ${status}`)
}
