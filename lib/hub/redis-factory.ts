import type { OutboundMessage } from '../transports/transport.js'
import type { Adapter, AdapterHealth, LocalSessions, Target } from './adapter.js'
import { RedisAdapter, type RedisAdapterOptions, type RedisLike } from './redis-adapter.js'

export interface RedisAdapterFactoryOptions extends Omit<RedisAdapterOptions, 'pub' | 'sub'> {
  /** `redis://[user:password@]host:port[/db]` (or `rediss://`). Default: `host` and `port`. */
  url?: string
  /** Default '127.0.0.1'. */
  host?: string
  /** Default 6379. */
  port?: number
  /** Further ioredis options for both connections (password, tls, db, retryStrategy, …). */
  redis?: Record<string, unknown>
  /** A Redis Cluster (7 or newer: sharded pub/sub) instead: some of its nodes (`'host:port'` or `{ host, port }`); the rest are discovered. */
  cluster?: Array<string | { host: string, port: number }>
}

/** What the adapter needs of an ioredis client beyond RedisLike. */
interface Client extends RedisLike {
  disconnect (): void
}

/** The part of an ioredis Cluster used here. */
interface ClusterClient {
  status: string
  spublish (channel: string, message: string): Promise<unknown>
  ssubscribe (channel: string): Promise<unknown>
  sunsubscribe (channel: string): Promise<unknown>
  on (event: string, listener: (...args: any[]) => void): unknown
  removeListener (event: string, listener: (...args: any[]) => void): unknown
  nodes (role: 'all'): Array<{ call (...args: string[]): Promise<unknown> }>
  disconnect (): void
}

// Settings the fault handling depends on: commands are never queued or
// resent by the client behind the adapter's back (the adapter holds and
// counts what cannot be published), and the subscriber's SUBSCRIBE waits
// for Redis however long it is down.
const PUB = { enableOfflineQueue: false, autoResendUnfulfilledCommands: false }
const SUB = { maxRetriesPerRequest: null, autoResendUnfulfilledCommands: false, autoResubscribe: true }

/**
 * A Redis adapter that makes and owns its two ioredis connections (ioredis
 * is an optional peer: install it), configured for the adapter's fault
 * handling: `redisAdapter({ url, key, buffer })`. `close()` closes them.
 */
export function redisAdapter (options: RedisAdapterFactoryOptions = {}): Adapter {
  return new OwnedRedisAdapter(options)
}

class OwnedRedisAdapter implements Adapter {
  private readonly options: RedisAdapterFactoryOptions
  private inner: RedisAdapter | null = null
  private clients: Client[] = []

  constructor (options: RedisAdapterFactoryOptions) {
    this.options = options
  }

  async init (local: LocalSessions): Promise<void> {
    const { url, host, port, redis, cluster, ...adapterOptions } = this.options
    const ioredis = await import('ioredis')
    let pub: Client
    let sub: Client
    if (cluster !== undefined) {
      const nodes = cluster.map(n => typeof n === 'string' ? { host: n.slice(0, n.lastIndexOf(':')), port: Number(n.slice(n.lastIndexOf(':') + 1)) } : n)
      pub = sharded(new ioredis.Cluster(nodes, { ...PUB, redisOptions: { ...redis, ...PUB } }) as unknown as ClusterClient)
      sub = sharded(new ioredis.Cluster(nodes, { ...SUB, shardedSubscribers: true, redisOptions: { ...redis, ...SUB } }) as unknown as ClusterClient)
    } else {
      const at = url ?? { host: host ?? '127.0.0.1', port: port ?? 6379 }
      pub = (typeof at === 'string' ? new ioredis.Redis(at, { ...redis, ...PUB }) : new ioredis.Redis({ ...at, ...redis, ...PUB })) as unknown as Client
      sub = (typeof at === 'string' ? new ioredis.Redis(at, { ...redis, ...SUB }) : new ioredis.Redis({ ...at, ...redis, ...SUB })) as unknown as Client
    }
    this.clients = [pub, sub]
    this.inner = new RedisAdapter({ ...adapterOptions, pub, sub })
    await this.inner.init(local)
  }

  publish (target: Target, message: OutboundMessage): number {
    return this.inner === null ? 0 : this.inner.publish(target, message)
  }

  count (target: Target): Promise<number> {
    return this.inner === null ? Promise.resolve(0) : this.inner.count(target)
  }

  health (): AdapterHealth {
    return this.inner === null ? { connected: false, buffered: 0, bufferedBytes: 0, dropped: 0, droppedBy: {} } : this.inner.health()
  }

  async close (): Promise<void> {
    await this.inner?.close()
    for (const c of this.clients) c.disconnect()
    this.clients = []
  }
}

/**
 * A Cluster client speaking sharded pub/sub (Redis 7) under the RedisLike
 * names. SPUBLISH goes to the node that owns the topic's slot, always the
 * same one, so a publisher's order holds (a classic PUBLISH goes to any node
 * and the cluster bus may reorder); SSUBSCRIBE listens on that node. The
 * subscribers (instances) are summed over every node's PUBSUB SHARDNUMSUB.
 */
function sharded (c: ClusterClient): Client {
  const name = (event: string): string => event === 'message' ? 'smessage' : event
  return {
    get status () { return c.status },
    publish: (channel, message) => c.spublish(channel, message),
    subscribe: (channel) => c.ssubscribe(channel),
    unsubscribe: (channel) => c.sunsubscribe(channel),
    on: (event: string, listener: (...args: any[]) => void) => c.on(name(event), listener),
    removeListener: (event: string, listener: (...args: any[]) => void) => c.removeListener(name(event), listener),
    call: async (_command: string, ...args: string[]) => {
      const answers = await Promise.all(c.nodes('all').map(n => n.call('PUBSUB', 'SHARDNUMSUB', args[1])))
      let total = 0
      for (const r of answers) if (Array.isArray(r) && typeof r[1] === 'number') total += r[1]
      return [args[1], total]
    },
    disconnect: () => c.disconnect(),
  }
}
