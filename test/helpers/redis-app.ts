import type { FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import type { Test } from 'tap'
import { RedisAdapter, type WebChannelOptions } from '../../lib/index.js'
import { startApp, type Started } from './app.js'

/**
 * An instance of the app on the shared Redis topic `key`, with its own two
 * connections to the real Redis on 127.0.0.1:6379 (scripts/ensure-test-env.sh
 * starts one when missing). Closed, with its connections, in teardown.
 */
export async function redisApp (t: Test, key: string, options: WebChannelOptions = {}, setup?: (app: FastifyInstance) => void): Promise<Started> {
  const pub = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 })
  const sub = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 })
  await pub.connect()
  await sub.connect()
  const s = await startApp({ ...options, adapter: new RedisAdapter({ pub, sub, key }) }, setup)
  t.teardown(async () => {
    await s.app.close()
    pub.disconnect()
    sub.disconnect()
  })
  return s
}
