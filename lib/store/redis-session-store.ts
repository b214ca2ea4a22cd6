import { randomBytes } from 'node:crypto'
import type { Route, SessionStore, StoredSession } from './session-store.js'

/** The part of a Redis client the store uses; an ioredis client fits as it is. */
export interface RedisCommander {
  call (command: string, ...args: Array<string | number>): Promise<unknown>
}

export interface RedisSessionStoreOptions {
  /** A connection for commands (not one in subscriber mode). */
  redis: RedisCommander
  /** The URL other instances forward a session's requests to, e.g. `http://10.0.0.5:3000` (this instance, reachable from its peers). */
  advertise: string
  /** Prefix of every key. Default 'fastify-webchannel'. */
  key?: string
  /** An instance that has not renewed its announcement for this long is gone (ms). Default 5000. */
  instanceTtl?: number
  /** A session record nobody touches for this long is removed by Redis (ms). Default 600000. */
  sessionTtl?: number
  /** Called when a command fails (Redis down): the session goes on in memory meanwhile. */
  onError?: (err: unknown) => void
  /** How long the instance's start waits for Redis before it boots without it (ms). Default 1000. */
  startTimeout?: number
}

// Keys: `<key>:i:<instance>` (the instance's URL, with a TTL it renews);
// per session, sharing a hash tag so a cluster keeps them in one slot:
//   `<key>:s:{sid}`    hash: owner, pkey, principal (JSON), delivered, acked
//   `<key>:s:{sid}:q`  list of "id:payload", oldest first; it always keeps its
//                      newest acknowledged entry, so it is never deleted (and
//                      never loses its TTL) between writes
//   `<key>:s:{sid}:c`  set of channels, with '' as a member for the same reason

// Take a session over if its owner is still the one the caller saw gone: returns
// the record, the queue and the channels; nil when someone else took it first.
const CLAIM = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner == false or owner ~= ARGV[1] then return false end
redis.call('HSET', KEYS[1], 'owner', ARGV[2])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
return { redis.call('HMGET', KEYS[1], 'principal', 'delivered', 'acked'), redis.call('LRANGE', KEYS[2], 0, -1), redis.call('SMEMBERS', KEYS[3]) }
`

/**
 * Sessions in Redis, so that any instance can continue a WebChannel session.
 * The owner keeps serving a session from memory and writes what a successor
 * would need: each array as it is queued, each acknowledgement, the forward
 * position before a POST is answered, channel joins and leaves. Writes are
 * sent without waiting (one connection keeps their order); only the forward
 * position is awaited, so that a client never sees a POST acknowledged that a
 * successor would not know of.
 */
export class RedisSessionStore implements SessionStore {
  readonly instanceId = randomBytes(8).toString('hex')
  private readonly redis: RedisCommander
  private readonly advertise: string
  private readonly prefix: string
  private readonly instanceTtl: number
  private readonly sessionTtl: number
  private readonly onError: (err: unknown) => void
  private readonly startTimeout: number
  /** First array id still in each owned session's list: acks trim up to the acknowledged one. */
  private readonly firstStored = new Map<string, number>()
  private renewTimer: NodeJS.Timeout | null = null

  constructor (options: RedisSessionStoreOptions) {
    this.redis = options.redis
    this.advertise = options.advertise.replace(/\/+$/, '')
    this.prefix = options.key ?? 'fastify-webchannel'
    this.instanceTtl = options.instanceTtl ?? 5000
    this.sessionTtl = options.sessionTtl ?? 600_000
    this.onError = options.onError ?? (() => {})
    this.startTimeout = options.startTimeout ?? 1000
  }

  /**
   * Waits for the first announcement at most `startTimeout`: with Redis up the
   * instance is known (and its connection ready) before it serves anyone; with
   * Redis down it boots anyway and serves its own sessions.
   */
  async start (): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      this.announce().catch(this.onError),
      new Promise<void>(resolve => { timer = setTimeout(resolve, this.startTimeout) }),
    ])
    clearTimeout(timer)
    // Renew well inside the TTL, so one slow renewal does not make peers take our sessions.
    this.renewTimer = setInterval(() => { this.announce().catch(this.onError) }, Math.max(100, Math.floor(this.instanceTtl / 3)))
    this.renewTimer.unref()
  }

  async stop (): Promise<void> {
    if (this.renewTimer !== null) clearInterval(this.renewTimer)
    this.renewTimer = null
    await this.release([...this.firstStored.keys()])
    await this.redis.call('DEL', this.instanceKey(this.instanceId)).catch(this.onError)
  }

  create (sid: string, principal: unknown, principalKey: string, base = -1): void {
    const [h, q, c] = this.keys(sid)
    this.send('HSET', h, 'owner', this.instanceId, 'pkey', principalKey, 'principal', JSON.stringify(principal ?? null), 'delivered', 0, 'acked', base)
    this.send('SADD', c, '')
    this.send('PEXPIRE', h, this.sessionTtl)
    this.send('PEXPIRE', c, this.sessionTtl)
    if (base < 0) {
      // The list's first entry (WebChannel's `c` array, id 0) comes with append(); its TTL with touch().
      this.firstStored.set(sid, 0)
    } else {
      // Ids start above `base`: an empty acknowledged entry keeps the list (see the key notes).
      this.firstStored.set(sid, base)
      this.send('RPUSH', q, base + ':')
      this.send('PEXPIRE', q, this.sessionTtl)
    }
  }

  append (sid: string, id: number, payload: string): void {
    this.send('RPUSH', this.keys(sid)[1], id + ':' + payload)
  }

  ack (sid: string, id: number): void {
    const first = this.firstStored.get(sid)
    if (first === undefined || id <= first) return
    // Keep the acknowledged entry itself: the list then never empties (see the key notes).
    this.send('LTRIM', this.keys(sid)[1], id - first, -1)
    this.send('HSET', this.keys(sid)[0], 'acked', id)
    this.firstStored.set(sid, id)
  }

  async delivered (sid: string, next: number): Promise<void> {
    await this.redis.call('HSET', this.keys(sid)[0], 'delivered', next)
  }

  join (sid: string, channel: string): void {
    this.send('SADD', this.keys(sid)[2], channel)
  }

  leave (sid: string, channel: string): void {
    this.send('SREM', this.keys(sid)[2], channel)
  }

  touch (sid: string): void {
    for (const k of this.keys(sid)) this.send('PEXPIRE', k, this.sessionTtl)
  }

  remove (sid: string): void {
    if (!this.firstStored.delete(sid)) return
    this.send('DEL', ...this.keys(sid))
  }

  async release (sids: readonly string[]): Promise<void> {
    const writes: Array<Promise<unknown>> = []
    for (const sid of sids) {
      if (!this.firstStored.delete(sid)) continue
      writes.push(this.redis.call('HSET', this.keys(sid)[0], 'owner', ''))
    }
    await Promise.all(writes).catch(this.onError)
  }

  async route (sid: string, principalKey: string, unreachable?: string): Promise<Route> {
    const [h, q, c] = this.keys(sid)
    // Two tries: another instance may take the session over between our read and our claim.
    for (let attempt = 0; attempt < 2; attempt++) {
      const [owner, pkey] = await this.redis.call('HMGET', h, 'owner', 'pkey') as [string | null, string | null]
      if (owner === null || pkey !== principalKey) return { kind: 'unknown' }
      if (owner !== '' && owner !== unreachable && owner !== this.instanceId) {
        const url = await this.redis.call('GET', this.instanceKey(owner)) as string | null
        if (url !== null) return { kind: 'relay', owner, url }
      }
      const claimed = await this.redis.call('EVAL', CLAIM, 3, h, q, c, owner, this.instanceId, this.sessionTtl) as ClaimReply | null
      if (claimed !== null) return { kind: 'claimed', session: this.restore(sid, pkey, claimed) }
    }
    return { kind: 'unknown' }
  }

  private restore (sid: string, principalKey: string, reply: ClaimReply): StoredSession {
    const [[principal, delivered, acked], entries, channels] = reply
    const ackedId = Number(acked ?? -1)
    const arrays: StoredSession['arrays'] = []
    let first = -1
    for (const e of entries) {
      const colon = e.indexOf(':')
      const id = Number(e.slice(0, colon))
      if (first < 0) first = id
      if (id > ackedId) arrays.push({ id, payload: e.slice(colon + 1) })
    }
    this.firstStored.set(sid, first < 0 ? ackedId + 1 : first)
    return {
      sid,
      principal: JSON.parse(principal ?? 'null') as unknown,
      principalKey,
      delivered: Number(delivered ?? 0),
      arrays,
      acked: ackedId,
      channels: channels.filter(ch => ch !== ''),
    }
  }

  private async announce (): Promise<void> {
    await this.redis.call('SET', this.instanceKey(this.instanceId), this.advertise, 'PX', this.instanceTtl)
  }

  private instanceKey (id: string): string {
    return this.prefix + ':i:' + id
  }

  private keys (sid: string): [string, string, string] {
    const h = this.prefix + ':s:{' + sid + '}'
    return [h, h + ':q', h + ':c']
  }

  private send (command: string, ...args: Array<string | number>): void {
    this.redis.call(command, ...args).catch(this.onError)
  }
}

type ClaimReply = [[string | null, string | null, string | null], string[], string[]]
