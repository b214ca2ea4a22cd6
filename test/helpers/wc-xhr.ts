// A small XMLHttpRequest stand-in over node:http for driving the real
// @firebase/webchannel-wrapper client in Node. Unlike xhr2 it exposes the
// partial responseText on every data event (readyState 3), which a streaming
// back channel needs, and it decodes gzip/deflate/br like a browser.
// Install it on globalThis only inside a test process.
import http from 'node:http'
import https from 'node:https'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import type { Readable } from 'node:stream'

export interface XhrRecord {
  method: string
  url: string
  requestHeaders: Record<string, string>
  requestBody: string
  status: number
  responseHeaders: http.IncomingHttpHeaders
  responseText: string
  /** 'done', 'error' (network error) or 'aborted'; null while in flight. */
  outcome: 'done' | 'error' | 'aborted' | null
  /** Cut the connection from the client side (the client sees a network error). */
  cut: () => void
}

type Listener = (ev: { type: string, target: unknown }) => void

/**
 * Run client code with its timers unref'd. The client leaves some watchdogs
 * armed (e.g. 45 s on its terminate request) that would hold a finished test
 * process open; unref'd, they still fire while a test's server is listening.
 */
export function withUnrefTimers<T> (fn: () => T): T {
  const g = globalThis as { setTimeout: typeof setTimeout }
  const orig = g.setTimeout
  g.setTimeout = ((...args: Parameters<typeof setTimeout>) => orig(...args).unref()) as typeof setTimeout
  try {
    return fn()
  } finally {
    g.setTimeout = orig
  }
}

/** Every request made through the stand-in, in order (tests filter by URL). */
export const xhrLog: XhrRecord[] = []

export class NodeXMLHttpRequest {
  static readonly UNSENT = 0
  static readonly OPENED = 1
  static readonly HEADERS_RECEIVED = 2
  static readonly LOADING = 3
  static readonly DONE = 4

  readyState = 0
  status = 0
  statusText = ''
  responseText = ''
  responseType = ''
  responseURL = ''
  withCredentials = false
  timeout = 0
  onreadystatechange: Listener | null = null
  onload: Listener | null = null
  onerror: Listener | null = null
  onabort: Listener | null = null
  ontimeout: Listener | null = null
  onloadend: Listener | null = null
  onprogress: Listener | null = null
  readonly upload = {}

  private method = 'GET'
  private url: URL | null = null
  private headers: Record<string, string> = {}
  private req: http.ClientRequest | null = null
  private res: http.IncomingMessage | null = null
  private listeners = new Map<string, Set<Listener>>()
  private record: XhrRecord | null = null
  private finished = false
  private timer: NodeJS.Timeout | null = null

  get response (): string { return this.responseText }

  open (method: string, url: string): void {
    this.method = method.toUpperCase()
    this.url = new URL(url)
    this.headers = {}
    this.responseText = ''
    this.status = 0
    this.finished = false
    this.setState(1)
  }

  setRequestHeader (name: string, value: string): void {
    this.headers[name] = value
  }

  getResponseHeader (name: string): string | null {
    const v = this.res?.headers[name.toLowerCase()]
    if (v === undefined) return null
    return Array.isArray(v) ? v.join(', ') : v
  }

  getAllResponseHeaders (): string {
    if (this.res === null) return ''
    return Object.entries(this.res.headers).map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(', ') : v}`).join('\r\n')
  }

  addEventListener (type: string, fn: Listener): void {
    let set = this.listeners.get(type)
    if (set === undefined) this.listeners.set(type, set = new Set())
    set.add(fn)
  }

  removeEventListener (type: string, fn: Listener): void {
    this.listeners.get(type)?.delete(fn)
  }

  overrideMimeType (): void {}

  send (body?: string | null): void {
    const url = this.url
    if (url === null) throw new Error('send() before open()')
    const payload = body === undefined || body === null ? '' : String(body)
    const headers: Record<string, string> = { 'accept-encoding': 'gzip, deflate, br', ...this.headers }
    if (payload !== '' && !Object.keys(headers).some(h => h.toLowerCase() === 'content-type')) {
      headers['content-type'] = 'text/plain;charset=UTF-8'
    }
    if (payload !== '' || this.method === 'POST') headers['content-length'] = String(Buffer.byteLength(payload))
    const record: XhrRecord = {
      method: this.method,
      url: url.toString(),
      requestHeaders: headers,
      requestBody: payload,
      status: 0,
      responseHeaders: {},
      responseText: '',
      outcome: null,
      cut: () => { this.req?.destroy(new Error('cut by test')); this.res?.destroy() },
    }
    this.record = record
    xhrLog.push(record)
    // https: for the deploy suite's TLS proxy, whose certificate is a throwaway self-signed one.
    const req = (url.protocol === 'https:' ? https : http).request({
      method: this.method,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers,
      agent: false,
      rejectUnauthorized: false,
    })
    this.req = req
    if (this.timeout > 0) {
      this.timer = setTimeout(() => {
        if (this.finished) return
        this.finished = true
        req.destroy()
        this.status = 0
        this.setState(4)
        this.fire('timeout')
        this.fire('loadend')
      }, this.timeout)
    }
    req.on('response', (res) => {
      if (this.finished) { res.destroy(); return }
      this.res = res
      this.status = res.statusCode ?? 0
      this.statusText = res.statusMessage ?? ''
      this.responseURL = url.toString()
      record.status = this.status
      record.responseHeaders = res.headers
      this.setState(2)
      let stream: Readable = res
      const enc = String(res.headers['content-encoding'] ?? '').toLowerCase()
      if (enc === 'gzip') stream = res.pipe(createGunzip())
      else if (enc === 'deflate') stream = res.pipe(createInflate())
      else if (enc === 'br') stream = res.pipe(createBrotliDecompress())
      const decoder = new TextDecoder('utf-8')
      stream.on('data', (chunk: Buffer) => {
        if (this.finished) return
        this.responseText += decoder.decode(chunk, { stream: true })
        record.responseText = this.responseText
        this.setState(3)
        this.fire('progress')
      })
      stream.on('end', () => {
        if (this.finished) return
        this.responseText += decoder.decode()
        record.responseText = this.responseText
        this.finish('done')
      })
      stream.on('error', () => this.fail())
      res.on('aborted', () => this.fail())
      res.on('close', () => { if (!res.complete) this.fail() })
    })
    req.on('error', () => this.fail())
    req.end(payload)
  }

  abort (): void {
    if (this.finished || this.req === null) return
    this.finished = true
    if (this.timer !== null) clearTimeout(this.timer)
    if (this.record !== null) this.record.outcome = 'aborted'
    this.req.destroy()
    this.res?.destroy()
    this.status = 0
    this.setState(4)
    this.fire('abort')
    this.fire('loadend')
    this.readyState = 0
  }

  private fail (): void {
    if (this.finished) return
    this.finished = true
    if (this.timer !== null) clearTimeout(this.timer)
    if (this.record !== null) this.record.outcome = 'error'
    this.status = 0
    this.setState(4)
    this.fire('error')
    this.fire('loadend')
  }

  private finish (outcome: 'done'): void {
    this.finished = true
    if (this.timer !== null) clearTimeout(this.timer)
    if (this.record !== null) this.record.outcome = outcome
    this.setState(4)
    this.fire('load')
    this.fire('loadend')
  }

  private setState (state: number): void {
    this.readyState = state
    this.fire('readystatechange')
  }

  private fire (type: string): void {
    const ev = { type, target: this }
    const prop = (this as unknown as Record<string, unknown>)['on' + type]
    withUnrefTimers(() => {
      if (typeof prop === 'function') (prop as Listener).call(this, ev)
      for (const fn of this.listeners.get(type) ?? []) fn.call(this, ev)
    })
  }
}

/**
 * A browser-like `navigator.sendBeacon`: a fire-and-forget text/plain POST.
 * With it the client terminates by beacon, as browsers do; without it, by an
 * XHR GET whose 45 s watchdog the client never clears (it would hold a test
 * process open).
 */
export function sendBeacon (url: string, data?: string): boolean {
  const u = new URL(url)
  const body = data ?? ''
  const headers = { 'content-type': 'text/plain;charset=UTF-8', 'content-length': String(Buffer.byteLength(body)), 'sec-fetch-mode': 'no-cors' }
  const record: XhrRecord = {
    method: 'POST', url, requestHeaders: headers, requestBody: body, status: 0, responseHeaders: {}, responseText: '', outcome: null, cut: () => {},
  }
  xhrLog.push(record)
  const req = (u.protocol === 'https:' ? https : http).request({ method: 'POST', hostname: u.hostname, port: u.port, path: u.pathname + u.search, headers, agent: false, rejectUnauthorized: false }, (res) => {
    record.status = res.statusCode ?? 0
    record.responseHeaders = res.headers
    res.on('data', (c: Buffer) => { record.responseText += c.toString() })
    res.on('end', () => { record.outcome = 'done' })
    res.on('error', () => { record.outcome = 'error' })
  })
  req.on('error', () => { record.outcome = 'error' })
  req.end(body)
  return true
}

/** Put the stand-in on globalThis (the wrapper looks it up there), and a sendBeacon unless told not to. */
export function installXhr (options: { beacon?: boolean } = {}): void {
  const g = globalThis as unknown as { XMLHttpRequest?: unknown, navigator?: Record<string, unknown> }
  g.XMLHttpRequest = NodeXMLHttpRequest
  if (options.beacon !== false) {
    if (g.navigator === undefined) g.navigator = { userAgent: 'node' }
    g.navigator.sendBeacon = sendBeacon
  }
}
