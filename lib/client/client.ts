import { decodeEnvelope, encodeEvent, encodeReject, encodeRequest, encodeResolve, parseEnvelope } from '../codecs/envelope.js'
import { backoffDefaults, backoffDelay, type ResolvedBackoff } from './backoff.js'
import { ClientChannel, type ChannelHost } from './channel.js'
import { ClientError, ClientErrorCode } from './errors.js'
import { Heartbeat, heartbeatDefaults, type HeartbeatOptions } from './heartbeat.js'
import type { Link, LinkHandlers } from './link.js'
import { openWebChannel } from './link-webchannel.js'
import { openWebSocket } from './link-websocket.js'
import { Listeners, type AnyListener } from './listeners.js'
import { Requests, type Pending } from './requests.js'
import type {
  ClientOptions, CloseInfo, ConnectionState, EventArgs, EventListener, EventMap, EventName, EventResult,
  LifecycleEvent, LifecycleEvents, RequestOptions, TransportKind, WebChannelModule, WebSocketConstructor,
} from './types.js'
import { ResumeState } from './resume.js'
import { resolveBase, webchannelUrl, websocketUrl } from './url.js'

const LIFECYCLE: ReadonlySet<string> = new Set<LifecycleEvent>(['open', 'close', 'error', 'reconnecting', 'transport', 'state'])

interface Queued { text: string, requestId: number | null }

interface Resolved {
  transport: 'auto' | TransportKind
  fallbackAfter: number
  connectTimeout: number
  requestTimeout: number
  reconnect: ResolvedBackoff | null
  tokenParam: string
  webchannelAuth: 'query' | 'header'
  websocketPath: string
  maxQueued: number
  heartbeat: Required<HeartbeatOptions> | null
  probeWebSocket: number
}

/** Never used in practice: without a loader the client does not try WebChannel. */
const noLoader = (): Promise<WebChannelModule> => Promise.reject(new Error('no options.loadWebChannel'))

/**
 * A connection to a fastify-webchannel server over WebSocket or WebChannel,
 * speaking ws-wrapper envelopes on both. States: connecting → open →
 * reconnecting → open … → closed. Created by `connect()`.
 *
 * This class never names `@firebase/webchannel-wrapper`: WebChannel is used
 * only with `options.loadWebChannel`. `fastify-webchannel/client` supplies a
 * default loader (a subclass in index.ts); `fastify-webchannel/client/websocket`
 * does not, so a WebSocket-only bundle never references the package.
 */
export class Client<E extends EventMap = EventMap> {
  private readonly base: URL
  private readonly options: ClientOptions
  private readonly o: Resolved
  private readonly lifecycle = new Listeners()
  private readonly wire = new Listeners()
  private readonly requests: Requests
  private readonly channels = new Map<string, ClientChannel<E>>()
  private readonly subs = new Set<string>()
  private outbox: Queued[] = []
  private currentState: ConnectionState = 'connecting'
  private link: Link | null = null
  /** The link being tried (not open yet). */
  private trying: Link | null = null
  private currentTransport: TransportKind | null = null
  /** Bumped for every attempt and every open link, so late callbacks of old ones are ignored. */
  private generation = 0
  private failures = 0
  private everOpened = false
  private retryTimer: ReturnType<typeof setTimeout> | null = null
  /** Resets the backoff once the live link has stayed open for `reconnect.resetAfter`. */
  private healthyTimer: ReturnType<typeof setTimeout> | null = null
  private heartbeat: Heartbeat | null = null
  /** WebSocket resume (unless `resume: false`): the session to come back to after a drop. */
  private readonly resume: ResumeState | null
  /** The current WebSocket's hello resumed the previous session. */
  private resumedLink = false
  /** In auto mode on WebChannel: when to try WebSocket again, and the attempt under way. */
  private probeTimer: ReturnType<typeof setTimeout> | null = null
  private probing: Link | null = null
  /** After a reconnect, until the subscriptions are restored, new messages queue behind them. */
  private restoring = false
  private readonly host: ChannelHost

  constructor (url: string, options: ClientOptions = {}) {
    this.base = resolveBase(url)
    this.options = options
    const r = options.reconnect ?? true
    this.o = {
      transport: options.transport ?? 'auto',
      fallbackAfter: options.fallbackAfter ?? 3000,
      connectTimeout: options.connectTimeout ?? 15_000,
      requestTimeout: options.requestTimeout ?? 10_000,
      reconnect: r === false ? null : { ...backoffDefaults, ...(r === true ? {} : r) },
      tokenParam: options.tokenParam ?? 'token',
      webchannelAuth: options.webchannelAuth ?? 'query',
      websocketPath: options.websocketPath ?? '/ws',
      maxQueued: options.maxQueued ?? 1000,
      heartbeat: options.heartbeat === false ? null : { ...heartbeatDefaults, ...(options.heartbeat === true || options.heartbeat === undefined ? {} : options.heartbeat) },
      probeWebSocket: options.probeWebSocket ?? 60_000,
    }
    this.resume = options.resume === false ? null : new ResumeState()
    if (!['auto', 'websocket', 'webchannel'].includes(this.o.transport)) {
      throw new TypeError('transport must be "auto", "websocket" or "webchannel"')
    }
    if (this.o.transport === 'webchannel' && options.loadWebChannel === undefined) {
      throw new TypeError('transport "webchannel" needs options.loadWebChannel (or import connect from fastify-webchannel/client)')
    }
    this.requests = new Requests(id => { this.outbox = this.outbox.filter(q => q.requestId !== id) })
    this.host = {
      emitOn: (c, ev, args) => this.emitOn(c, ev, args),
      requestOn: (c, ev, args, opts) => this.requestOn(c, ev, args, opts),
      listen: (c, ev, fn, once) => this.wire.add(c, ev, fn, once),
      unlisten: (c, ev, fn) => this.wire.remove(c, ev, fn),
      subscribe: (name) => this.subscribe(name),
      unsubscribe: (name) => this.unsubscribe(name),
    }
    // Listeners added right after connect() see the first events.
    queueMicrotask(() => this.attempt())
  }

  /** 'connecting' | 'open' | 'reconnecting' | 'closed'. */
  get state (): ConnectionState { return this.currentState }
  /** The transport of the live connection (or of the last one), null before the first open. */
  get transport (): TransportKind | null { return this.currentTransport }
  /** Channels this client is subscribed to (restored after every reconnect). */
  get subscriptions (): ReadonlySet<string> { return this.subs }

  // ---- the main channel ----------------------------------------------

  emit<K extends EventName<E>> (event: K, ...args: EventArgs<E, K>): void {
    this.emitOn(null, event, args)
  }

  request<K extends EventName<E>> (event: K, ...args: EventArgs<E, K>): Promise<EventResult<E, K>> {
    return this.requestOn(null, event, args, {}) as Promise<EventResult<E, K>>
  }

  requestWith<K extends EventName<E>> (options: RequestOptions, event: K, ...args: EventArgs<E, K>): Promise<EventResult<E, K>> {
    return this.requestOn(null, event, args, options) as Promise<EventResult<E, K>>
  }

  /** Connection events (open, close, error, reconnecting, transport, state) or main-channel events from the server. */
  on<K extends LifecycleEvent> (event: K, fn: LifecycleEvents[K]): this
  on<K extends EventName<E>> (event: K, fn: EventListener<E, K>): this
  on (event: string, fn: AnyListener): this {
    this.listenersFor(event).add(null, event, fn, false)
    return this
  }

  once<K extends LifecycleEvent> (event: K, fn: LifecycleEvents[K]): this
  once<K extends EventName<E>> (event: K, fn: EventListener<E, K>): this
  once (event: string, fn: AnyListener): this {
    this.listenersFor(event).add(null, event, fn, true)
    return this
  }

  off<K extends LifecycleEvent> (event: K, fn?: LifecycleEvents[K]): this
  off<K extends EventName<E>> (event: K, fn?: EventListener<E, K>): this
  off (event: string, fn?: AnyListener): this {
    this.listenersFor(event).remove(null, event, fn)
    return this
  }

  /** A named channel; the same object for the same name. */
  of (name: string): ClientChannel<E> {
    if (typeof name !== 'string' || name === '') throw new TypeError('channel name must be a non-empty string')
    let ch = this.channels.get(name)
    if (ch === undefined) {
      ch = new ClientChannel<E>(this.host, name)
      this.channels.set(name, ch)
    }
    return ch
  }

  /** Join a pub/sub channel (restored after every reconnect). Rejects with code WEBCHANNEL_FORBIDDEN when refused. */
  async subscribe (name: string): Promise<void> {
    await this.requestOn(null, 'subscribe', [name], { idempotent: true })
    if (this.currentState !== 'closed') this.subs.add(name)
  }

  /** Leave a channel. While disconnected this only forgets it (the next session starts without it). */
  async unsubscribe (name: string): Promise<void> {
    this.subs.delete(name)
    if (this.currentState === 'open') await this.requestOn(null, 'unsubscribe', [name], { idempotent: true })
  }

  /** Close for good: pending requests fail with WEBCHANNEL_CLIENT_CLOSED; no reconnect. */
  close (code = 1000, reason = ''): void {
    if (this.currentState === 'closed') return
    const link = this.link
    const transport = this.currentTransport
    this.shutDown()
    if (link !== null) {
      link.close(code, reason)
      this.fire('close', { code, reason, transport: link.kind, willReconnect: false })
    } else if (transport !== null && this.everOpened) {
      this.fire('close', { code, reason, transport, willReconnect: false })
    }
  }

  // ---- outbound ------------------------------------------------------

  private emitOn (channel: string | null, event: string, args: unknown[]): void {
    if (this.currentState === 'closed') throw new ClientError(ClientErrorCode.CLOSED, 'The client is closed')
    this.write(encodeEvent(channel, event, args), null)
  }

  private requestOn (channel: string | null, event: string, args: unknown[], opts: RequestOptions): Promise<unknown> {
    if (this.currentState === 'closed') return Promise.reject(new ClientError(ClientErrorCode.CLOSED, 'The client is closed'))
    if ((this.link === null || this.restoring) && this.outbox.length >= this.o.maxQueued) return Promise.reject(queueFull())
    const { pending, promise } = this.requests.create({
      event,
      encode: id => encodeRequest(channel, event, args, id),
      timeout: opts.timeout ?? this.o.requestTimeout,
      signal: opts.signal,
      idempotent: opts.idempotent === true,
    })
    // An already-aborted signal settled it.
    if (this.requests.get(pending.id) !== undefined) this.write(pending.text, pending.id)
    return promise
  }

  /** Write to the live link, or queue until the next open. */
  private write (text: string, requestId: number | null): void {
    if (this.link !== null && !this.restoring) {
      this.link.send(text)
      if (requestId !== null) this.markSent(requestId)
      return
    }
    if (this.outbox.length >= this.o.maxQueued) throw queueFull()
    this.outbox.push({ text, requestId })
  }

  private markSent (id: number): void {
    const p = this.requests.get(id)
    if (p !== undefined) p.sent = true
  }

  // ---- connecting ------------------------------------------------------

  private attempt (): void {
    if (this.currentState === 'closed') return
    this.retryTimer = null
    const gen = ++this.generation
    this.tryKind(this.candidates(), 0, gen, null)
  }

  /** Transports to try in this attempt, in order. */
  private candidates (): TransportKind[] {
    if (this.o.transport !== 'auto') return [this.o.transport]
    // Without a WebChannel loader (fastify-webchannel/client/websocket), 'auto' is WebSocket only.
    if (this.options.loadWebChannel === undefined) return ['websocket']
    // After a drop, stay on the transport that worked: a restarting server refuses
    // WebSocket too, and falling back then would strand the client on long polling.
    // Every 4th attempt negotiates afresh, in case the network changed.
    const proven = this.currentTransport
    if (proven !== null && this.failures % 4 !== 0) return [proven]
    return ['websocket', 'webchannel']
  }

  private tryKind (kinds: TransportKind[], i: number, gen: number, last: { code: number, reason: string, kind: TransportKind } | null): void {
    if (gen !== this.generation || this.currentState === 'closed') return
    if (i >= kinds.length) {
      this.attemptFailed(last)
      return
    }
    const kind = kinds[i]
    this.token().then(token => {
      if (gen !== this.generation || this.currentState === 'closed') return
      let opened = false
      let timer: ReturnType<typeof setTimeout> | null = null
      const handlers: LinkHandlers = {
        onOpen: () => {
          if (timer !== null) clearTimeout(timer)
          if (gen !== this.generation || this.currentState === 'closed') {
            link.close(1000, '')
            return
          }
          opened = true
          this.trying = null
          this.opened(link)
        },
        onMessage: (data) => { if (opened && this.link === link) this.receive(data) },
        onClose: (code, reason, refused) => {
          if (timer !== null) clearTimeout(timer)
          if (opened) {
            if (this.link === link) this.dropped(link, code, reason)
            return
          }
          if (this.trying === link) this.trying = null
          // A refusal is an answer, not a network failure: no fallback, no retry.
          if (refused !== undefined) {
            if (gen === this.generation) this.refused(kind, refused)
            return
          }
          this.tryKind(kinds, i + 1, gen, { code, reason, kind })
        },
      }
      const link: Link = kind === 'websocket'
        ? this.resumable(openWebSocket(websocketUrl(this.base, this.o.websocketPath, token, this.o.tokenParam, this.resume?.params()), this.webSocketCtor(), handlers,
          this.resume === null ? undefined : (hello) => { this.resumedLink = this.resume?.hello(hello, text => link.send(text)) ?? false }))
        : openWebChannel(webchannelUrl(this.base), this.options.loadWebChannel ?? noLoader, {
          params: token !== null && this.o.webchannelAuth === 'query' ? { [this.o.tokenParam]: token } : {},
          headers: token !== null && this.o.webchannelAuth === 'header' ? { Authorization: 'Bearer ' + token } : {},
          ...this.options.webchannel,
        }, handlers)
      if (!opened) {
        this.trying = link
        const limit = kind === 'websocket' && kinds.length > 1 ? this.o.fallbackAfter : this.o.connectTimeout
        timer = setTimeout(() => link.close(4000, `${kind} did not open within ${limit} ms`), limit)
      }
    }, (err: unknown) => {
      this.tryKind(kinds, kinds.length, gen, { code: 1006, reason: 'token: ' + (err instanceof Error ? err.message : String(err)), kind })
    })
  }

  /** A WebSocket link whose messages are kept until the server acknowledges them (resent after a resume). */
  private resumable (link: Link): Link {
    const resume = this.resume
    if (resume === null) return link
    return { kind: link.kind, close: (code, reason) => link.close(code, reason), send: (text) => { resume.sent(text); link.send(text) } }
  }

  private webSocketCtor (): WebSocketConstructor {
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (Ctor === undefined) {
      // Reported like a refused connection, so 'auto' still falls back to WebChannel.
      return class { constructor () { throw new Error('No WebSocket constructor: pass options.WebSocket (e.g. from the ws package)') } }
    }
    return Ctor
  }

  private async token (): Promise<string | null> {
    const t = this.options.token
    if (typeof t === 'function') return (await t()) ?? null
    return t ?? null
  }

  /** No transport opened in this attempt. */
  private attemptFailed (last: { code: number, reason: string, kind: TransportKind } | null): void {
    const detail = last === null ? '' : ` (${last.kind}: ${last.code}${last.reason === '' ? '' : ' ' + last.reason})`
    this.fire('error', new ClientError(ClientErrorCode.CONNECT_FAILED, 'Could not connect' + detail))
    this.scheduleReconnect()
  }

  /** The server's hooks or origin check said no (401/403): report it and stop. */
  private refused (kind: TransportKind, status: number): void {
    const err = new ClientError(ClientErrorCode.REFUSED, `The server refused the ${kind} connection (HTTP ${status})`, { status, transport: kind })
    this.shutDown()
    this.fire('error', err)
  }

  private scheduleReconnect (): void {
    const r = this.o.reconnect
    this.failures++
    if (r === null || this.failures > r.maxAttempts) {
      this.shutDown()
      return
    }
    const delay = backoffDelay(r, Math.min(this.failures, 64))
    this.setState('reconnecting')
    this.fire('reconnecting', { attempt: this.failures, delay })
    if (this.currentState !== 'reconnecting') return
    this.retryTimer = setTimeout(() => this.attempt(), delay)
  }

  private opened (link: Link): void {
    const gen = ++this.generation
    const reconnected = this.everOpened
    const previous = this.currentTransport
    this.link = link
    this.everOpened = true
    this.currentTransport = link.kind
    const resumed = link.kind === 'websocket' && this.resumedLink
    this.resumedLink = false
    // A WebChannel session is another session: nothing to resume on the next WebSocket.
    if (link.kind === 'webchannel') this.resume?.forget()
    this.watch(link)
    this.setState('open')
    if (previous !== link.kind) this.fire('transport', { transport: link.kind, previous })
    if (this.link !== link) return
    // Restore subscriptions first and hold everything else until they are answered:
    // the server handles messages concurrently, and a queued chat message must
    // not overtake the subscribe it depends on.
    const names = [...this.subs]
    const restores = names.map(name => this.requestOn(null, 'subscribe', [name], {}).then(() => true, (err: unknown) => {
      if (gen === this.generation && !(err instanceof ClientError && err.code === ClientErrorCode.DISCONNECTED)) {
        this.subs.delete(name)
        this.fire('error', new ClientError(ClientErrorCode.RESUBSCRIBE_FAILED, `Could not rejoin "${name}" after reconnecting`, { cause: err, channel: name }))
      }
      return false
    }))
    this.restoring = names.length > 0
    if (!this.restoring) this.flush(link)
    Promise.all(restores).then(ok => {
      if (gen !== this.generation || this.link !== link) return
      if (this.restoring) {
        this.restoring = false
        this.flush(link)
        if (this.link !== link) return
      }
      this.fire('open', { transport: link.kind, reconnected, resumed, restored: names.filter((_, i) => ok[i]) })
    })
  }

  /** Timers that belong to one open link: healthy-reset, heartbeat, WebSocket probe. */
  private watch (link: Link): void {
    this.unwatch()
    const r = this.o.reconnect
    if (r !== null) {
      this.healthyTimer = setTimeout(() => {
        this.healthyTimer = null
        if (this.link === link) this.failures = 0
      }, r.resetAfter)
      ;(this.healthyTimer as { unref?: () => void }).unref?.()
    }
    if (link.kind === 'websocket' && this.o.heartbeat !== null) {
      this.heartbeat = new Heartbeat(this.o.heartbeat, () => this.ping(link), () => {
        if (this.link === link) link.close(4000, `No answer within ${this.o.heartbeat?.timeout ?? 0} ms`)
      })
    }
    if (link.kind === 'webchannel' && this.o.transport === 'auto' && this.o.probeWebSocket > 0) this.scheduleProbe(link)
  }

  private unwatch (): void {
    if (this.healthyTimer !== null) clearTimeout(this.healthyTimer)
    this.healthyTimer = null
    this.heartbeat?.stop()
    this.heartbeat = null
    if (this.probeTimer !== null) clearTimeout(this.probeTimer)
    this.probeTimer = null
    const probing = this.probing
    this.probing = null
    probing?.close(1000, '')
  }

  /**
   * A request to a reserved event name: the server answers it at once with
   * WEBCHANNEL_NO_HANDLER and runs no app code. Any answer proves the link works.
   */
  private ping (link: Link): void {
    if (this.link !== link) return
    const { pending, promise } = this.requests.create({ event: 'connect', encode: id => encodeRequest(null, 'connect', [], id), timeout: 0, signal: undefined, idempotent: false })
    promise.catch(() => {})
    link.send(pending.text)
    this.markSent(pending.id)
  }

  /** After a fallback, try WebSocket again every `probeWebSocket` ms; switch when it opens and nothing is in flight. */
  private scheduleProbe (current: Link): void {
    this.probeTimer = setTimeout(() => {
      this.probeTimer = null
      if (this.link !== current) return
      this.token().then(token => {
        if (this.link !== current || this.probing !== null) return
        let up = false
        const probe: Link = openWebSocket(websocketUrl(this.base, this.o.websocketPath, token, this.o.tokenParam), this.webSocketCtor(), {
          onOpen: () => {
            up = true
            if (this.link !== current || this.probing !== probe || this.requests.inFlight > 0 || this.restoring) {
              this.probing = null
              probe.close(1000, '')
              if (this.link === current) this.scheduleProbe(current)
              return
            }
            this.probing = null
            this.switchTo(current, probe)
          },
          onMessage: (data) => { if (this.link === probe) this.receive(data) },
          onClose: (code, reason) => {
            if (this.probing === probe) this.probing = null
            if (up) {
              if (this.link === probe) this.dropped(probe, code, reason)
              return
            }
            if (this.link === current) this.scheduleProbe(current)
          },
        })
        this.probing = probe
      }, () => { if (this.link === current) this.scheduleProbe(current) })
    }, this.o.probeWebSocket)
    ;(this.probeTimer as { unref?: () => void }).unref?.()
  }

  /** Move from the WebChannel link to an opened WebSocket, like a reconnect without the wait. */
  private switchTo (old: Link, next: Link): void {
    this.link = null
    this.unwatch()
    old.close(1000, 'Switching to websocket')
    this.fire('close', { code: 1000, reason: 'Switching to websocket', transport: old.kind, willReconnect: true })
    if (this.currentState === 'closed') {
      next.close(1000, '')
      return
    }
    this.opened(next)
  }

  /** Write what waited for a connection, in order. */
  private flush (link: Link): void {
    const queued = this.outbox
    this.outbox = []
    for (const q of queued) {
      if (this.link !== link) {
        this.outbox.push(q)
        continue
      }
      link.send(q.text)
      if (q.requestId !== null) this.markSent(q.requestId)
    }
  }

  /** The open link ended without `close()`. */
  private dropped (link: Link, code: number, reason: string): void {
    this.link = null
    this.resume?.stop()
    this.unwatch()
    this.restoring = false
    this.generation++
    // Requests written to the dead link: idempotent ones go back to the front of the queue.
    const resend: Pending[] = this.requests.disconnected()
    if (resend.length > 0) this.outbox = [...resend.map(p => ({ text: p.text, requestId: p.id })), ...this.outbox]
    const willReconnect = this.o.reconnect !== null && this.o.reconnect.maxAttempts > 0 && this.currentState !== 'closed'
    const info: CloseInfo = { code, reason, transport: link.kind, willReconnect }
    if (!willReconnect) {
      this.shutDown()
      this.fire('close', info)
      return
    }
    this.fire('close', info)
    if (this.currentState === 'open') this.scheduleReconnect()
  }

  /** Terminal: no link, no timers, every request failed. */
  private shutDown (): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = null
    this.unwatch()
    this.generation++
    this.link = null
    this.resume?.forget()
    this.restoring = false
    const trying = this.trying
    this.trying = null
    this.setState('closed')
    trying?.close(1000, '')
    this.outbox = []
    this.requests.failAll(event => new ClientError(ClientErrorCode.CLOSED, `The client closed before the answer to "${event}" arrived`))
  }

  // ---- inbound -------------------------------------------------------

  private receive (data: unknown): void {
    this.heartbeat?.seen()
    const link = this.link
    if (link !== null && link.kind === 'websocket' && this.resume !== null) {
      if (typeof data === 'string' && this.resume.ackFrame(data)) return
      this.resume.counted(text => { if (this.link === link) link.send(text) })
    }
    const m = typeof data === 'string' ? parseEnvelope(data) : decodeEnvelope(data)
    switch (m.kind) {
      case 'resolve':
        this.requests.answer(m.id, true, m.data)
        break
      case 'reject':
        this.requests.answer(m.id, false, m.error)
        break
      case 'event':
        if (m.channel === null && LIFECYCLE.has(m.name)) return
        for (const fn of this.wire.take(m.channel, m.name)) this.call(fn, m.args)
        break
      case 'request':
        this.answerPeer(m.channel, m.name, m.args, m.id)
        break
    }
  }

  /** A request from the server: the first listener's return value (or promise) is the answer. */
  private answerPeer (channel: string | null, name: string, args: unknown[], id: number): void {
    const link = this.link
    const reply = (text: string) => { if (this.link === link && link !== null) link.send(text) }
    const fns = channel === null && LIFECYCLE.has(name) ? [] : this.wire.take(channel, name)
    if (fns.length === 0) {
      reply(encodeReject(id, { message: `No handler for "${name}"`, code: 'WEBCHANNEL_NO_HANDLER' }))
      return
    }
    let result: unknown
    try {
      result = (fns[0] as (...a: unknown[]) => unknown)(...args)
      for (const fn of fns.slice(1)) this.call(fn, args)
    } catch (err) {
      reply(encodeReject(id, errorBody(err)))
      return
    }
    Promise.resolve(result).then(
      d => reply(encodeResolve(id, d)),
      err => reply(encodeReject(id, errorBody(err)))
    )
  }

  private call (fn: AnyListener, args: unknown[]): void {
    try {
      const r = (fn as (...a: unknown[]) => unknown)(...args)
      if (r instanceof Promise) r.catch((err: unknown) => this.listenerFailed(err))
    } catch (err) {
      this.listenerFailed(err)
    }
  }

  private listenerFailed (err: unknown): void {
    this.fire('error', new ClientError(ClientErrorCode.LISTENER_ERROR, 'An event listener threw', { cause: err }))
  }

  // ---- lifecycle events ------------------------------------------------

  private listenersFor (event: string): Listeners {
    if (typeof event !== 'string' || event === '') throw new TypeError('event name must be a non-empty string')
    return LIFECYCLE.has(event) ? this.lifecycle : this.wire
  }

  private setState (s: ConnectionState): void {
    if (this.currentState === s) return
    this.currentState = s
    this.fire('state', s)
  }

  private fire<K extends LifecycleEvent> (event: K, info: Parameters<LifecycleEvents[K]>[0]): void {
    for (const fn of this.lifecycle.take(null, event)) {
      try {
        (fn as (i: typeof info) => void)(info)
      } catch (err) {
        // A throwing lifecycle listener must not break the connection logic; surface it like the platform does.
        const report = (globalThis as { reportError?: (e: unknown) => void }).reportError
        if (report !== undefined) report(err)
        else queueMicrotask(() => { throw err })
      }
    }
  }
}

function queueFull (): ClientError {
  return new ClientError(ClientErrorCode.QUEUE_FULL, 'Too many messages waiting for a connection')
}

function errorBody (err: unknown): { message: string, code: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    return { message: err.message, code: typeof code === 'string' ? code : 'WEBCHANNEL_HANDLER_ERROR' }
  }
  return { message: String(err), code: 'WEBCHANNEL_HANDLER_ERROR' }
}
