// Drive the real @firebase/webchannel-wrapper client in Node (over the XHR
// stand-in) and record what it reports, with promises to await events.
import { createWebChannelTransport, WebChannel, type WebChannelOptions } from '@firebase/webchannel-wrapper/webchannel-blob'
import { installXhr, withUnrefTimers } from './wc-xhr.js'

installXhr()

export type ClientEvent =
  | { type: 'open' }
  | { type: 'message', data: unknown }
  | { type: 'error' }
  | { type: 'close' }

export interface WcClient {
  events: ClientEvent[]
  /** Data of every MESSAGE, in order. */
  messages: unknown[]
  send (msg: unknown): void
  close (): void
  /** Resolves with the first event (past or future) that matches. */
  waitFor (pred: (e: ClientEvent) => boolean, what?: string, timeoutMs?: number): Promise<ClientEvent>
  /** Resolves once `n` messages have arrived. */
  waitForMessages (n: number, timeoutMs?: number): Promise<unknown[]>
  opened (): Promise<ClientEvent>
  closed (): Promise<ClientEvent>
}

export function openChannel (url: string, options: WebChannelOptions = {}, openNow = true): WcClient & { open (): void } {
  const channel = withUnrefTimers(() => createWebChannelTransport().createWebChannel(url, options))
  const events: ClientEvent[] = []
  const messages: unknown[] = []
  const waiters = new Set<{ pred: (e: ClientEvent) => boolean, resolve: (e: ClientEvent) => void }>()
  const push = (e: ClientEvent) => {
    events.push(e)
    if (e.type === 'message') messages.push(e.data)
    for (const w of [...waiters]) {
      if (w.pred(e)) {
        waiters.delete(w)
        w.resolve(e)
      }
    }
  }
  const T = WebChannel.EventType
  channel.listen(T.OPEN, () => push({ type: 'open' }))
  channel.listen(T.MESSAGE, (ev) => push({ type: 'message', data: (ev as { data: unknown }).data }))
  channel.listen(T.ERROR, () => push({ type: 'error' }))
  channel.listen(T.CLOSE, () => push({ type: 'close' }))

  const waitFor = (pred: (e: ClientEvent) => boolean, what = 'event', timeoutMs = 15_000): Promise<ClientEvent> => {
    const seen = events.find(pred)
    if (seen !== undefined) return Promise.resolve(seen)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(w)
        reject(new Error(`timed out waiting for ${what}; saw ${JSON.stringify(events).slice(0, 500)}`))
      }, timeoutMs)
      const w = { pred, resolve: (e: ClientEvent) => { clearTimeout(timer); resolve(e) } }
      waiters.add(w)
    })
  }
  const client = {
    events,
    messages,
    open: () => withUnrefTimers(() => channel.open()),
    send: (msg: unknown) => withUnrefTimers(() => channel.send(msg)),
    close: () => withUnrefTimers(() => channel.close()),
    waitFor,
    waitForMessages: async (n: number, timeoutMs = 15_000) => {
      if (messages.length < n) await waitFor(e => e.type === 'message' && messages.length >= n, `${n} messages`, timeoutMs)
      return messages.slice(0, n)
    },
    opened: () => waitFor(e => e.type === 'open', 'open'),
    closed: () => waitFor(e => e.type === 'close', 'close'),
  }
  if (openNow) client.open()
  return client
}
