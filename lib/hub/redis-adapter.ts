import { randomBytes } from 'node:crypto'
import { FST_WEBCHANNEL_ADAPTER_TIMEOUT } from '../errors.js'
import { OutboundMessage } from '../transports/transport.js'
import type { Adapter, LocalSessions, Target } from './adapter.js'

/** The part of a Redis client the adapter uses; ioredis fits as it is. */
export interface RedisLike {
  publish (channel: string, message: string): unknown
  subscribe (channel: string): Promise<unknown>
  unsubscribe (channel: string): Promise<unknown>
  on (event: 'message', listener: (channel: string, message: string) => void): unknown
  removeListener (event: 'message', listener: (channel: string, message: string) => void): unknown
  /** Any command (ioredis `call`); used for `PUBSUB NUMSUB`, to know how many instances a count waits for. */
  call? (command: string, ...args: string[]): Promise<unknown>
}

export interface RedisAdapterOptions {
  /** A connection for PUBLISH. */
  pub: RedisLike
  /** A second connection, put in subscriber mode by the adapter. */
  sub: RedisLike
  /** The Redis pub/sub topic every instance of this app shares. Default 'fastify-webchannel'. */
  key?: string
  /** How long a cluster-wide count waits for the other instances (ms). Default 1000. */
  countTimeout?: number
  /** Called when a PUBLISH fails; the local delivery has happened regardless. */
  onError?: (err: unknown) => void
}

// One Redis topic carries every kind of message, as fields joined by NUL:
//   instance, kind, key, except (comma-joined session ids), payload.
// Kinds: c/s/a deliver to a channel, a session, everyone; q asks every
// instance for a count (payload: query id), r answers one (key: the asking
// instance and query id, payload: the count).
const SEP = '\u0000'
const KIND: Record<Target['kind'], string> = { channel: 'c', session: 's', all: 'a' }

interface CountQuery {
  total: number
  answers: number
  expected: number | null
  resolve: (n: number) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

/**
 * Cross-instance fan-out over Redis pub/sub. Each emit is delivered locally
 * at once and published once; every other instance delivers it to its own
 * sessions. A message to one session is published only if that session is
 * not on this instance. Order is kept per publishing instance (Redis keeps
 * a connection's PUBLISH order).
 */
export class RedisAdapter implements Adapter {
  /** Identifies this instance's own messages when they come back. */
  readonly instanceId = randomBytes(8).toString('hex')
  private readonly pub: RedisLike
  private readonly sub: RedisLike
  private readonly key: string
  private readonly countTimeout: number
  private readonly onError: (err: unknown) => void
  private local: LocalSessions | null = null
  private readonly queries = new Map<string, CountQuery>()
  private lastQuery = 0

  constructor (options: RedisAdapterOptions) {
    this.pub = options.pub
    this.sub = options.sub
    this.key = options.key ?? 'fastify-webchannel'
    this.countTimeout = options.countTimeout ?? 1000
    this.onError = options.onError ?? (() => {})
  }

  async init (local: LocalSessions): Promise<void> {
    this.local = local
    this.sub.on('message', this.onMessage)
    await this.sub.subscribe(this.key)
  }

  publish (target: Target, message: OutboundMessage): number {
    if (this.local === null) return 0
    const local = this.local.deliver(target, message)
    if (target.kind === 'session' && local > 0) return local
    this.send(KIND[target.kind], targetKey(target), exceptOf(target), message.json)
    return local
  }

  /** Local count plus every other instance's answer; rejects if one known instance does not answer in time. */
  count (target: Target): Promise<number> {
    if (this.local === null) return Promise.resolve(0)
    const own = this.local.count(target)
    const id = String(++this.lastQuery)
    return new Promise<number>((resolve, reject) => {
      const q: CountQuery = {
        total: own,
        answers: 0,
        expected: null,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.queries.delete(id)
          // Without NUMSUB the adapter cannot know who is missing: what arrived is the count.
          if (q.expected === null) resolve(q.total)
          else reject(new FST_WEBCHANNEL_ADAPTER_TIMEOUT('count'))
        }, this.countTimeout),
      }
      this.queries.set(id, q)
      this.instances().then((n) => {
        if (n === null || !this.queries.has(id)) return
        q.expected = n - 1
        this.settleIfComplete(id, q)
      }, this.onError)
      this.send('q', KIND[target.kind] + (target.kind === 'session' ? target.id : target.kind === 'channel' ? target.name : ''), exceptOf(target), id)
    })
  }

  async close (): Promise<void> {
    this.local = null
    for (const [id, q] of this.queries) {
      clearTimeout(q.timer)
      this.queries.delete(id)
      q.resolve(q.total)
    }
    this.sub.removeListener('message', this.onMessage)
    await this.sub.unsubscribe(this.key).catch(this.onError)
  }

  /** Subscribers of the shared topic (one per instance), if the client can ask. */
  private async instances (): Promise<number | null> {
    if (this.pub.call === undefined) return null
    const r = await this.pub.call('PUBSUB', 'NUMSUB', this.key)
    return Array.isArray(r) && typeof r[1] === 'number' ? r[1] : null
  }

  private settleIfComplete (id: string, q: CountQuery): void {
    if (q.expected === null || q.answers < q.expected) return
    clearTimeout(q.timer)
    this.queries.delete(id)
    q.resolve(q.total)
  }

  private send (kind: string, key: string, except: string, payload: string): void {
    try {
      const r = this.pub.publish(this.key, this.instanceId + SEP + kind + SEP + key + SEP + except + SEP + payload)
      if (r instanceof Promise) r.catch(this.onError)
    } catch (err) {
      this.onError(err)
    }
  }

  private readonly onMessage = (channel: string, raw: string): void => {
    if (channel !== this.key || this.local === null) return
    const a = raw.indexOf(SEP)
    const b = raw.indexOf(SEP, a + 1)
    const c = raw.indexOf(SEP, b + 1)
    const d = raw.indexOf(SEP, c + 1)
    if (a < 0 || b < 0 || c < 0 || d < 0) return
    const from = raw.slice(0, a)
    if (from === this.instanceId) return
    const kind = raw.slice(a + 1, b)
    const key = raw.slice(b + 1, c)
    const except = raw.slice(c + 1, d)
    const payload = raw.slice(d + 1)
    if (kind === 'r') return this.onAnswer(key, payload)
    if (kind === 'q') {
      const target = parseTarget(key.slice(0, 1), key.slice(1), except)
      if (target !== null) this.send('r', from + ':' + payload, '', String(this.local.count(target)))
      return
    }
    const target = parseTarget(kind, key, except)
    if (target !== null) this.local.deliver(target, new OutboundMessage(payload))
  }

  private onAnswer (key: string, payload: string): void {
    const colon = key.indexOf(':')
    if (key.slice(0, colon) !== this.instanceId) return
    const id = key.slice(colon + 1)
    const q = this.queries.get(id)
    const n = Number(payload)
    if (q === undefined || !Number.isSafeInteger(n) || n < 0) return
    q.total += n
    q.answers++
    this.settleIfComplete(id, q)
  }
}

function targetKey (target: Target): string {
  return target.kind === 'channel' ? target.name : target.kind === 'session' ? target.id : ''
}

function exceptOf (target: Target): string {
  return target.kind !== 'session' && target.except !== undefined ? [...target.except].join(',') : ''
}

function parseTarget (kind: string, key: string, except: string): Target | null {
  const skip = except === '' ? undefined : new Set(except.split(','))
  if (kind === 'c') return { kind: 'channel', name: key, except: skip }
  if (kind === 's') return { kind: 'session', id: key }
  if (kind === 'a') return { kind: 'all', except: skip }
  return null
}
