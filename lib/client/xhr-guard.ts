// Closure's WebChannel client treats every HTTP status other than 200 as fatal
// (the channel dies, no retry), but a 502/503/504 from a proxy in front of the
// server says nothing about the session: it is a hop that failed. This wraps
// each XMLHttpRequest closure makes so that such a status looks like a network
// error (status 0), which closure retries with the same RID and maps. It also
// reports every status it sees, so a 401/403 refusal can be told apart from a
// network failure (closure's ERROR event carries no status).
//
// Buffering proxies: the server writes a noop at once on every fresh streaming
// back channel (CI=0), so a stream that shows no bytes for `streamTimeout` is
// held by something in between. That request is failed like a network error
// and, from then on, every back channel is asked for as a long poll (CI=1):
// closure reopens a completed back channel by itself, and the server resends
// what was not acknowledged, so the session and its messages survive. This
// backs up closure's own detectBufferingProxy, which under load sometimes
// misses (its window is two handshake round trips, checked once).

/** Statuses from a proxy or an overloaded server that a retry can cure. */
export const RETRYABLE_STATUS: ReadonlySet<number> = new Set([500, 502, 503, 504])

/** The part of XMLHttpRequest closure's XhrIo touches. */
interface XhrLike {
  readyState: number
  status: number
  statusText: string
  responseText: string
  response: unknown
  responseType: string
  withCredentials: boolean
  timeout: number
  onreadystatechange: (() => void) | null
  open (method: string, url: string, async?: boolean): void
  send (body?: unknown): void
  abort (): void
  setRequestHeader (name: string, value: string): void
  getResponseHeader (name: string): string | null
  getAllResponseHeaders (): string
}

export interface GuardHooks {
  /** Every final or first status a request saw (before masking). */
  onStatus (status: number, url: string): void
  /** A streaming back channel showed nothing for this long (ms); 0 disables the watch. */
  streamTimeout: number
  /** Back channels are to be long polls from now on. */
  longPoll: { on: boolean }
}

const STREAMING_BACK_CHANNEL = /[?&]RID=rpc(&|$)/
/** Closure cancels a fresh stream sooner only to switch or close; a working stream has its noop by then. */
const STREAM_GIVEN_UP_AFTER = 1000
const CI0 = /([?&]CI=)0(&|$)/

/** One request: forwards to the real one until a retryable status shows, then reports a network error once. */
class GuardedXhr {
  private readonly inner: XhrLike
  private readonly hooks: GuardHooks
  private masked = false
  private reported = false
  private url = ''
  private watch: ReturnType<typeof setTimeout> | null = null
  private sentAt = 0
  onreadystatechange: (() => void) | null = null

  constructor (inner: XhrLike, hooks: GuardHooks) {
    this.inner = inner
    this.hooks = hooks
    inner.onreadystatechange = () => this.changed()
  }

  get readyState (): number { return this.masked ? 4 : this.inner.readyState }
  get status (): number { return this.masked ? 0 : this.inner.status }
  get statusText (): string { return this.masked ? '' : this.inner.statusText }
  get responseText (): string { return this.masked ? '' : this.inner.responseText }
  get response (): unknown { return this.masked ? '' : this.inner.response }
  get responseType (): string { return this.inner.responseType }
  set responseType (v: string) { this.inner.responseType = v }
  get withCredentials (): boolean { return this.inner.withCredentials }
  set withCredentials (v: boolean) { this.inner.withCredentials = v }
  get timeout (): number { return this.inner.timeout }
  set timeout (v: number) { this.inner.timeout = v }

  open (method: string, url: string, async = true): void {
    const streaming = STREAMING_BACK_CHANNEL.test(url) && CI0.test(url)
    if (streaming && this.hooks.longPoll.on) url = url.replace(CI0, '$11$2')
    this.url = url
    this.inner.open(method, url, async)
  }

  send (body?: unknown): void {
    if (STREAMING_BACK_CHANNEL.test(this.url) && CI0.test(this.url) && this.hooks.streamTimeout > 0) {
      this.sentAt = Date.now()
      this.watch = setTimeout(() => this.buffered(), this.hooks.streamTimeout)
    }
    this.inner.send(body)
  }

  abort (): void {
    // Closure gave up on a stream that never showed a byte (its watchdog is 1.5 × the
    // server's keepalive, shorter than streamTimeout when the keepalive is short): same verdict.
    if (this.watch !== null && Date.now() - this.sentAt >= STREAM_GIVEN_UP_AFTER) this.hooks.longPoll.on = true
    this.unwatch()
    if (!this.masked) this.inner.abort()
  }

  setRequestHeader (name: string, value: string): void { this.inner.setRequestHeader(name, value) }
  getResponseHeader (name: string): string | null { return this.masked ? null : this.inner.getResponseHeader(name) }
  getAllResponseHeaders (): string { return this.masked ? '' : this.inner.getAllResponseHeaders() }

  private unwatch (): void {
    if (this.watch !== null) clearTimeout(this.watch)
    this.watch = null
  }

  /** No byte on a streaming back channel: something holds it. Fail it; the retry is a long poll. */
  private buffered (): void {
    this.watch = null
    if (this.masked) return
    this.hooks.longPoll.on = true
    this.fail()
  }

  /** Look like a network error: readyState 4, status 0. */
  private fail (): void {
    this.masked = true
    this.inner.onreadystatechange = null
    this.inner.abort()
    this.onreadystatechange?.()
  }

  private changed (): void {
    if (this.masked) return
    const state = this.inner.readyState
    if (this.watch !== null && (state === 4 || (state === 3 && this.inner.responseText !== ''))) this.unwatch()
    if (state >= 2 && !this.reported) {
      const status = this.inner.status
      if (status > 0) {
        this.reported = true
        this.hooks.onStatus(status, this.url)
        if (RETRYABLE_STATUS.has(status)) {
          // Stop reading the proxy's error page; closure sees readyState 4, status 0.
          this.unwatch()
          this.fail()
          return
        }
      }
    }
    this.onreadystatechange?.()
  }
}

/** The module's factory class: closure calls its one (minified) method to make each request. */
interface FactoryClass { prototype: object }

/**
 * A factory closure accepts as `xmlHttpFactory`. Closure's minifier renamed
 * the factory method, so its name is read from the module's own factory class
 * (the one method on its prototype). `make` creates the real request.
 * Returns null when the name cannot be found (a future wrapper build): the
 * caller then leaves closure's default in place.
 */
export function guardedFactory (moduleFactory: FactoryClass | undefined, make: () => XhrLike, hooks: GuardHooks): object | null {
  if (moduleFactory === undefined) return null
  const proto = moduleFactory.prototype as Record<string, unknown>
  const names = Object.getOwnPropertyNames(proto).filter(n => n !== 'constructor' && typeof proto[n] === 'function')
  if (names.length !== 1) return null
  // Inherit from the module's factory base so instanceof checks still hold.
  const factory = Object.create(Object.getPrototypeOf(proto) as object) as Record<string, unknown>
  factory[names[0]] = () => new GuardedXhr(make(), hooks)
  return factory
}

/** The method of a factory instance that creates a request (see guardedFactory). */
export function createWith (factory: object): () => XhrLike {
  const proto = Object.getPrototypeOf(factory) as Record<string, unknown>
  const name = Object.getOwnPropertyNames(proto).find(n => n !== 'constructor' && typeof proto[n] === 'function')
  if (name === undefined) throw new Error('not an XmlHttpFactory')
  return () => (factory as Record<string, () => XhrLike>)[name]()
}
