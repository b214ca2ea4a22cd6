import { isRefusal, type Link, type LinkHandlers } from './link.js'
import type { WebChannelModule } from './types.js'
import { createWith, guardedFactory } from './xhr-guard.js'

export interface WebChannelLinkOptions {
  /** Extra URL parameters on every request (the token, in 'query' mode). */
  params: Record<string, string>
  /** Extra headers on every XHR (the token, in 'header' mode). */
  headers: Record<string, string>
  forceLongPolling?: boolean
  useFetchStreams?: boolean
  httpSessionIdParam?: string
  withCredentials?: boolean
  /** Base of closure's own retry delay, ms (see ClientOptions.webchannel.retryDelay). */
  retryDelay?: number
  /** Closure's buffering-proxy detection (see ClientOptions.webchannel.detectBufferingProxy). */
  detectBufferingProxy?: boolean
  /** A streaming back channel with no byte for this long (ms) means a buffering proxy (see xhr-guard.ts); 0 disables. */
  streamTimeout?: number
}

/** The server writes a noop at once on a fresh stream: a few seconds of nothing is a proxy holding it. */
const DEFAULT_STREAM_TIMEOUT = 3000

/**
 * Closure waits (5 s + up to 10 s) × attempt before retrying a failed request,
 * so a server that vanished between two polls is noticed only after 15–45 s.
 * Our client reconnects by itself, so closure only needs to ride out a blip.
 */
const DEFAULT_RETRY_DELAY = 1000

interface ChannelLike {
  open (): void
  close (): void
  send (msg: unknown): void
  listen (type: string, cb: (ev: unknown) => void): void
}

interface ModuleWithFetch extends WebChannelModule {
  FetchXmlHttpFactory?: new (options: object) => object
}

/**
 * A WebChannel (long-poll) link through closure's client. The module is
 * loaded on first use, so apps that never fall back never download it.
 */
export function openWebChannel (url: string, load: () => Promise<WebChannelModule>, o: WebChannelLinkOptions, h: LinkHandlers): Link {
  let done = false
  let channel: ChannelLike | null = null
  let errored = false
  // The last 401/403 any request of this channel got: closure's ERROR has no status.
  let refused = 0
  const finish = (code: number, reason: string, status?: number) => {
    if (done) return
    done = true
    h.onClose(code, reason, status)
  }

  const retry = o.retryDelay ?? DEFAULT_RETRY_DELAY
  load().then((mod: ModuleWithFetch) => {
    if (done) return
    const options = channelOptions(mod, o, retry, (status) => { if (isRefusal(status)) refused = status })
    const types = mod.WebChannel.EventType
    const ch = mod.createWebChannelTransport().createWebChannel(url, options) as ChannelLike
    channel = ch
    ch.listen(types.OPEN, () => { if (!done) h.onOpen() })
    ch.listen(types.MESSAGE, (ev) => {
      if (!done) h.onMessage((ev as { data?: unknown }).data)
    })
    // ERROR carries no detail (status 1 only); CLOSE follows it.
    ch.listen(types.ERROR, () => { errored = true })
    ch.listen(types.CLOSE, () => {
      if (refused !== 0) finish(1006, `HTTP ${refused}`, refused)
      else finish(errored ? 1006 : 1000, errored ? 'WebChannel error' : '')
    })
    ch.open()
  }, (err: unknown) => {
    finish(1006, 'WebChannel client failed to load: ' + (err instanceof Error ? err.message : String(err)))
  })

  return {
    kind: 'webchannel',
    send (text) { if (!done && channel !== null) channel.send(text) },
    close (code = 1000, reason = '') {
      if (done) return
      const ch = channel
      finish(code, reason)
      // Sends the terminate request; its CLOSE event is ignored (already finished).
      if (ch !== null) unrefTimers(() => ch.close())
    },
  }
}

/**
 * Closure arms a 45 s watchdog on its terminate request and never clears it
 * (harmless in a page, but in Node it keeps the process alive after close()).
 * Timers created during the close call are unref'd where the platform can.
 */
function unrefTimers (fn: () => void): void {
  const g = globalThis as { setTimeout: typeof setTimeout }
  const original = g.setTimeout
  const wrapped = (...args: Parameters<typeof setTimeout>) => {
    const timer = original(...args)
    ;(timer as { unref?: () => void }).unref?.()
    return timer
  }
  g.setTimeout = wrapped as typeof setTimeout
  try {
    fn()
  } finally {
    g.setTimeout = original
  }
}

/** closure's WebChannel options for this link; `onStatus` sees every response's status. */
function channelOptions (mod: ModuleWithFetch, o: WebChannelLinkOptions, retry: number, onStatus: (status: number) => void): Record<string, unknown> {
  const options: Record<string, unknown> = {
    // Each send() body is the envelope's JSON text, as on the WebSocket.
    sendRawJson: true,
    messageUrlParams: o.params,
    forceLongPolling: o.forceLongPolling === true,
    supportsCrossDomainXhr: o.withCredentials === true,
    // Delay before retry n: (base + random × base) × n. Closure treats 0 as unset.
    internalChannelParams: { baseRetryDelayMs: Math.max(1, retry), retryDelaySeedMs: Math.max(1, retry) },
  }
  if (Object.keys(o.headers).length > 0) options.messageHeaders = o.headers
  if (o.httpSessionIdParam !== undefined) options.httpSessionIdParam = o.httpSessionIdParam
  if (o.useFetchStreams === true) options.useFetchStreams = true
  // A proxy can buffer a streaming response until it ends; closure then sees
  // nothing and, with this, switches to long polls (CI=1) within 2 handshake RTTs.
  if (o.detectBufferingProxy !== false && o.forceLongPolling !== true) options.detectBufferingProxy = true
  // Node has fetch but no XMLHttpRequest: closure can run every request over fetch.
  const make = typeof XMLHttpRequest === 'undefined'
    ? (mod.FetchXmlHttpFactory === undefined ? null : createWith(new mod.FetchXmlHttpFactory({})))
    : (o.useFetchStreams === true ? null : () => new XMLHttpRequest() as never)
  const guarded = make === null
    ? null
    : guardedFactory(mod.FetchXmlHttpFactory, make, {
      onStatus,
      streamTimeout: o.forceLongPolling === true ? 0 : (o.streamTimeout ?? DEFAULT_STREAM_TIMEOUT),
      longPoll: { on: false },
    })
  if (guarded !== null) options.xmlHttpFactory = guarded
  else if (typeof XMLHttpRequest === 'undefined' && mod.FetchXmlHttpFactory !== undefined) options.xmlHttpFactory = new mod.FetchXmlHttpFactory({})
  return options
}
