import { randomBytes } from 'node:crypto'
import { FST_WEBCHANNEL_ADAPTER_TIMEOUT, FST_WEBCHANNEL_ADAPTER_UNAVAILABLE } from '../errors.js'
import { OutboundMessage } from '../transports/transport.js'
import type { Adapter, AdapterEvent, AdapterHealth, DropReason, LocalSessions, Target } from './adapter.js'
import { Outbox, type BufferOptions } from './outbox.js'

/** The part of a Redis client the adapter uses; ioredis fits as it is. */
export interface RedisLike {
  publish (channel: string, message: string): unknown
  subscribe (channel: string): Promise<unknown>
  unsubscribe (channel: string): Promise<unknown>
  on (event: 'message', listener: (channel: string, message: string) => void): unknown
  removeListener (event: 'message', listener: (channel: string, message: string) => void): unknown
  /** Any command (ioredis `call`); used for `PUBSUB NUMSUB`, to know how many instances a count waits for. */
  call? (command: string, ...args: string[]): Promise<unknown>
  /** The connection's state, as ioredis keeps it ('ready' when usable). Without it the client counts as connected until it emits 'close'. */
  status?: string
}

/** A client's connection events (ioredis emits them); the adapter listens when the client has them. */
interface Evented {
  on (event: string, listener: (...args: any[]) => void): unknown
  removeListener (event: string, listener: (...args: any[]) => void): unknown
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
  /** Cross-instance messages held while Redis is unreachable: `{ count: 1000, bytes: 1048576, age: 30000 }` by default. */
  buffer?: BufferOptions
  /** After a reconnection, how long the buffered messages wait for the other instances to subscribe again (ms). Default 2000. */
  flushWait?: number
  /** Called when a PUBLISH or SUBSCRIBE fails while connected; the local delivery has happened regardless. */
  onError?: (err: unknown) => void
}

// One Redis topic carries every kind of message, as fields joined by NUL:
//   instance, kind, key, except (comma-joined session ids), payload.
// Kinds: c/s/a deliver to a channel, a session, everyone; q asks every
// instance for a count (payload: query id), r answers one (key: the asking
// instance and query id, payload: the count); h says an instance has
// (re)subscribed, so the others learn how many instances listen.
const SEP = '\u0000'
const KIND: Record<Target['kind'], string> = { channel: 'c', session: 's', all: 'a' }
/** Drops are reported (log line, onAdapterEvent) at most this often, summed per reason. */
const DROP_REPORT_INTERVAL = 1000

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
 *
 * Faults: the adapter listens to its clients' connection events (so an
 * ioredis client never has an unhandled 'error'). While Redis is unreachable,
 * local delivery goes on and cross-instance messages wait in a bounded
 * buffer; on reconnection they are published in order, once the instances
 * that listened before the outage have subscribed again (at most `flushWait`).
 * What the bounds give up is counted and reported.
 */
export class RedisAdapter implements Adapter {
  /** Identifies this instance's own messages when they come back. */
  readonly instanceId = randomBytes(8).toString('hex')
  private readonly pub: RedisLike
  private readonly sub: RedisLike
  private readonly key: string
  private readonly countTimeout: number
  private readonly flushWait: number
  private readonly onError: (err: unknown) => void
  private local: LocalSessions | null = null
  private readonly queries = new Map<string, CountQuery>()
  private lastQuery = 0
  private readonly outbox: Outbox
  private pubUp: boolean
  private subscribed = false
  private flushing = false
  /** What was last reported: 'up' or 'down' (null before the first report). */
  private reported: 'up' | 'down' | null = null
  private lastError: string | null = null
  private lastFlushed = 0
  /** Subscribers of the topic (instances) when last asked while connected; null: never connected yet. */
  private listeners: number | null = null
  private readonly droppedBy: Partial<Record<DropReason, number>> = {}
  private dropped = 0
  private readonly unreported = new Map<DropReason, number>()
  private dropTimer: NodeJS.Timeout | null = null
  private lastDropReport = 0
  private sweepTimer: NodeJS.Timeout | null = null
  private closed = false

  constructor (options: RedisAdapterOptions) {
    this.pub = options.pub
    this.sub = options.sub
    this.key = options.key ?? 'fastify-webchannel'
    this.countTimeout = options.countTimeout ?? 1000
    this.flushWait = options.flushWait ?? 2000
    this.onError = options.onError ?? ((err: unknown) => this.local?.adapterEvent?.({ type: 'error', error: errorText(err) }))
    this.outbox = new Outbox(options.buffer)
    this.pubUp = isUp(this.pub)
    // At once: a client that cannot connect emits 'error' before the plugin starts the adapter.
    listen(this.pub, { error: this.clientError })
    listen(this.sub, { error: this.clientError })
  }

  /**
   * Subscribes and listens to both connections. Waits for the subscription
   * while Redis answers; with Redis unreachable it returns at the first
   * connection failure (the instance serves local traffic, degraded) and
   * subscribes when Redis is back.
   */
  async init (local: LocalSessions): Promise<void> {
    this.local = local
    this.sub.on('message', this.onMessage)
    listen(this.pub, this.pubEvents)
    listen(this.sub, this.subEvents)
    // A lazyConnect client connects on its first command; the publisher sends none until connected.
    if (this.pub.status === 'wait') (this.pub as { connect? (): Promise<unknown> }).connect?.().catch(noop)
    const failed = new Promise<void>(resolve => {
      this.initFailed = resolve
    })
    const pubReady = this.pubUp ? undefined : new Promise<void>(resolve => { this.pubReady = resolve })
    await Promise.race([Promise.all([this.subscribe(), pubReady]), failed])
    this.initFailed = null
    this.pubReady = null
    this.report()
  }

  private pubReady: (() => void) | null = null
  private initFailed: (() => void) | null = null

  publish (target: Target, message: OutboundMessage): number {
    if (this.local === null) return 0
    const local = this.local.deliver(target, message)
    if (target.kind === 'session' && local > 0) return local
    this.send(KIND[target.kind], targetKey(target), exceptOf(target), message.json)
    return local
  }

  /** Local count plus every other instance's answer; rejects if one known instance does not answer in time, or Redis is unreachable. */
  count (target: Target): Promise<number> {
    if (this.local === null) return Promise.resolve(0)
    if (!this.connected()) return Promise.reject(new FST_WEBCHANNEL_ADAPTER_UNAVAILABLE('count'))
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
      }, () => {})
      this.control('q', KIND[target.kind] + (target.kind === 'session' ? target.id : target.kind === 'channel' ? target.name : ''), exceptOf(target), id)
    })
  }

  health (): AdapterHealth {
    return {
      connected: this.connected(),
      buffered: this.outbox.size,
      bufferedBytes: this.outbox.bytes,
      dropped: this.dropped,
      droppedBy: { ...this.droppedBy },
    }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const [id, q] of this.queries) {
      clearTimeout(q.timer)
      this.queries.delete(id)
      q.resolve(q.total)
    }
    if (this.outbox.size > 0) this.drop('closed', this.outbox.take().length)
    this.stopSweep()
    this.reportDrops()
    this.local = null
    this.sub.removeListener('message', this.onMessage)
    unlisten(this.pub, this.pubEvents)
    unlisten(this.sub, this.subEvents)
    // Bounded: a connection that went quiet must not hold up app.close().
    if (this.subscribed) await within(this.sub.unsubscribe(this.key), this.countTimeout)
  }

  private connected (): boolean {
    return this.pubUp && this.subscribed && !this.flushing && this.outbox.size === 0
  }

  // ---- connection state -------------------------------------------------

  private readonly pubEvents: Record<string, (...args: any[]) => void> = {
    ready: () => {
      this.pubUp = true
      this.pubReady?.()
      this.flush().catch(noop)
    },
    close: () => this.lost(true),
    end: () => this.lost(true),
  }

  private readonly subEvents: Record<string, (...args: any[]) => void> = {
    ready: () => { this.subscribe().catch(noop) },
    close: () => this.lost(false),
    end: () => this.lost(false),
  }

  /** Kept from construction on, also after close(): the client never has an unhandled 'error'. */
  private readonly clientError = (err: unknown): void => {
    this.lastError = errorText(err)
    if (this.initFailed !== null) this.initFailed()
  }

  private lost (pub: boolean): void {
    if (pub) this.pubUp = false
    else this.subscribed = false
    if (this.initFailed !== null) this.initFailed()
    this.report()
  }

  /** Subscribe (again: idempotent in Redis); connected once the publisher is too. */
  private async subscribe (): Promise<void> {
    try {
      await this.sub.subscribe(this.key)
    } catch (err) {
      if (isUp(this.sub)) this.onError(err)
      return
    }
    if (this.closed) return
    this.subscribed = true
    this.report()
    this.flush().catch(noop)
  }

  private async refreshListeners (): Promise<void> {
    const n = await this.instances().catch(() => null)
    if (n !== null && this.connected()) this.listeners = n
  }

  /**
   * Once both connections are back: wait for the listeners of before
   * (an instance that booted without Redis never knew them: it waits the whole
   * `flushWait`), then publish what waited, in order.
   */
  private async flush (): Promise<void> {
    if (this.flushing || this.closed || !this.pubUp || !this.subscribed) return
    this.flushing = true
    const deadline = Date.now() + this.flushWait
    const expected = this.listeners ?? Infinity
    try {
      while (this.outbox.size > 0 && this.pubUp && this.subscribed && Date.now() < deadline) {
        const n = await this.instances().catch(() => null)
        if (n === null || n >= expected) break
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    } finally {
      this.flushing = false
    }
    if (!this.pubUp || !this.subscribed || this.closed) return
    const aged = this.outbox.expire(Date.now())
    if (aged > 0) this.drop('age', aged)
    const texts = this.outbox.take()
    this.stopSweep()
    for (const text of texts) this.write(text)
    this.lastFlushed = texts.length
    this.report()
  }

  /** Tell the hub when the state changed: down (buffering) or up (connected, buffer flushed). */
  private report (): void {
    // During init the first state is reported once init knows it.
    if (this.local === null || this.initFailed !== null) return
    const state = this.connected() ? 'up' : 'down'
    if (state === this.reported) return
    this.reported = state
    const event: AdapterEvent = state === 'up' ? { type: 'up', flushed: this.lastFlushed } : { type: 'down', error: this.lastError }
    this.lastFlushed = 0
    // Connected: say so (the others count their listeners again), and count them, for the next outage.
    if (state === 'up') {
      this.control('h', '', '', '')
      this.refreshListeners().catch(noop)
    }
    this.local.adapterEvent?.(event)
  }

  // ---- publishing ---------------------------------------------------------

  /**
   * A delivery for the other instances: published now, or held while either
   * connection is lost (the first to notice starts the buffering; both go
   * when Redis goes).
   */
  private send (kind: string, key: string, except: string, payload: string): void {
    const text = this.instanceId + SEP + kind + SEP + key + SEP + except + SEP + payload
    if (this.pubUp && this.subscribed && !this.flushing && this.outbox.size === 0) return this.write(text)
    for (const [reason, n] of this.outbox.push(text, Date.now())) this.drop(reason, n)
    if (this.outbox.size > 0) this.startSweep()
  }

  /** Counts, answers and greetings are never held (stale, they would mislead), nor counted as drops. */
  private control (kind: string, key: string, except: string, payload: string): void {
    if (!this.pubUp) return
    try {
      const r = this.pub.publish(this.key, this.instanceId + SEP + kind + SEP + key + SEP + except + SEP + payload)
      if (r instanceof Promise) r.catch(noop)
    } catch {}
  }

  private write (text: string): void {
    try {
      const r = this.pub.publish(this.key, text)
      if (r instanceof Promise) r.catch(this.publishFailed)
    } catch (err) {
      this.publishFailed(err)
    }
  }

  private readonly publishFailed = (err: unknown): void => {
    this.drop('failed', 1)
    if (isUp(this.pub)) this.onError(err)
  }

  // ---- drops --------------------------------------------------------------

  private drop (reason: DropReason, n: number): void {
    this.dropped += n
    this.droppedBy[reason] = (this.droppedBy[reason] ?? 0) + n
    this.unreported.set(reason, (this.unreported.get(reason) ?? 0) + n)
    if (this.dropTimer !== null) return
    const wait = Math.max(0, this.lastDropReport + DROP_REPORT_INTERVAL - Date.now())
    this.dropTimer = setTimeout(() => this.reportDrops(), wait)
    this.dropTimer.unref()
  }

  /** One event per reason for the drops since the last report. */
  private reportDrops (): void {
    if (this.dropTimer !== null) clearTimeout(this.dropTimer)
    this.dropTimer = null
    this.lastDropReport = Date.now()
    for (const [reason, count] of this.unreported) {
      this.local?.adapterEvent?.({ type: 'drop', reason, count, total: this.dropped })
    }
    this.unreported.clear()
  }

  /** While messages are held, the age bound is applied even if nothing else is published. */
  private startSweep (): void {
    if (this.sweepTimer !== null) return
    this.sweepTimer = setInterval(() => {
      const aged = this.outbox.expire(Date.now())
      if (aged > 0) this.drop('age', aged)
      if (this.outbox.size === 0) this.stopSweep()
    }, Math.min(1000, Math.max(10, this.outbox.bounds.age / 4)))
    this.sweepTimer.unref()
  }

  private stopSweep (): void {
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer)
    this.sweepTimer = null
  }

  // ---- receiving ----------------------------------------------------------

  /** Subscribers of the shared topic (one per instance), if the client can ask. */
  private async instances (): Promise<number | null> {
    if (this.pub.call === undefined || !this.pubUp) return null
    const r = await this.pub.call('PUBSUB', 'NUMSUB', this.key)
    return Array.isArray(r) && typeof r[1] === 'number' ? r[1] : null
  }

  private settleIfComplete (id: string, q: CountQuery): void {
    if (q.expected === null || q.answers < q.expected) return
    clearTimeout(q.timer)
    this.queries.delete(id)
    q.resolve(q.total)
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
    if (kind === 'h') {
      this.refreshListeners().catch(noop)
      return
    }
    if (kind === 'q') {
      const target = parseTarget(key.slice(0, 1), key.slice(1), except)
      if (target !== null) this.control('r', from + ':' + payload, '', String(this.local.count(target)))
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

function noop (): void {}

/** Waits for `p` (its failure ignored) at most `ms`. */
function within (p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise<void>(resolve => {
    const timer = setTimeout(resolve, ms)
    p.then(() => { clearTimeout(timer); resolve() }, () => { clearTimeout(timer); resolve() })
  })
}

function errorText (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Connected, as far as the client says: ioredis 'ready'; a client without `status` counts as connected. */
function isUp (client: RedisLike): boolean {
  return client.status === undefined || client.status === 'ready'
}

function listen (client: RedisLike, events: Record<string, (...args: any[]) => void>): void {
  for (const [name, fn] of Object.entries(events)) (client as unknown as Evented).on(name, fn)
}

function unlisten (client: RedisLike, events: Record<string, (...args: any[]) => void>): void {
  for (const [name, fn] of Object.entries(events)) (client as unknown as Evented).removeListener(name, fn)
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
