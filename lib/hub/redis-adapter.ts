import { randomBytes } from 'node:crypto'
import { OutboundMessage } from '../transports/transport.js'
import type { Adapter, Target } from './adapter.js'

/** The part of a Redis client the adapter uses; ioredis and node-redis v4 legacy mode fit. */
export interface RedisLike {
  publish (channel: string, message: string): unknown
  subscribe (channel: string): Promise<unknown>
  unsubscribe (channel: string): Promise<unknown>
  on (event: 'message', listener: (channel: string, message: string) => void): unknown
  removeListener (event: 'message', listener: (channel: string, message: string) => void): unknown
}

export interface RedisAdapterOptions {
  /** A connection for PUBLISH. */
  pub: RedisLike
  /** A second connection, put in subscriber mode by the adapter. */
  sub: RedisLike
  /** The Redis pub/sub channel every instance of this app shares. Default 'fastify-webchannel'. */
  key?: string
  /** Called when a PUBLISH fails; the local delivery has happened regardless. */
  onError?: (err: unknown) => void
}

const SEP = '\u0000'
const KIND: Record<Target['kind'], string> = { channel: 'c', session: 's', all: 'a' }

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
  private readonly onError: (err: unknown) => void
  private deliver: ((target: Target, message: OutboundMessage) => number) | null = null

  constructor (options: RedisAdapterOptions) {
    this.pub = options.pub
    this.sub = options.sub
    this.key = options.key ?? 'fastify-webchannel'
    this.onError = options.onError ?? (() => {})
  }

  async init (deliver: (target: Target, message: OutboundMessage) => number): Promise<void> {
    this.deliver = deliver
    this.sub.on('message', this.onMessage)
    await this.sub.subscribe(this.key)
  }

  publish (target: Target, message: OutboundMessage): number {
    if (this.deliver === null) return 0
    const local = this.deliver(target, message)
    if (target.kind === 'session' && local > 0) return local
    const key = target.kind === 'channel' ? target.name : target.kind === 'session' ? target.id : ''
    try {
      const r = this.pub.publish(this.key, this.instanceId + SEP + KIND[target.kind] + SEP + key + SEP + message.json)
      if (r instanceof Promise) r.catch(this.onError)
    } catch (err) {
      this.onError(err)
    }
    return local
  }

  async close (): Promise<void> {
    this.deliver = null
    this.sub.removeListener('message', this.onMessage)
    await this.sub.unsubscribe(this.key).catch(this.onError)
  }

  private readonly onMessage = (channel: string, raw: string): void => {
    if (channel !== this.key || this.deliver === null) return
    const a = raw.indexOf(SEP)
    const b = raw.indexOf(SEP, a + 1)
    const c = raw.indexOf(SEP, b + 1)
    if (a < 0 || b < 0 || c < 0) return
    if (raw.slice(0, a) === this.instanceId) return
    const kind = raw.slice(a + 1, b)
    const key = raw.slice(b + 1, c)
    const message = new OutboundMessage(raw.slice(c + 1))
    if (kind === 'c') this.deliver({ kind: 'channel', name: key }, message)
    else if (kind === 's') this.deliver({ kind: 'session', id: key }, message)
    else if (kind === 'a') this.deliver({ kind: 'all' }, message)
  }
}
