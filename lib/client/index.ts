// fastify-webchannel/client: one API over WebSocket and WebChannel, for browsers and Node.
// WebSocket first, falling back to WebChannel through closure's client
// (@firebase/webchannel-wrapper, an optional peer dependency), loaded with a
// dynamic import on first use. Apps that never want the fallback import
// fastify-webchannel/client/websocket instead, whose bundle never names it.
import { Client as CoreClient } from './client.js'
import type { ClientOptions, EventMap, WebChannelModule } from './types.js'

const loadWebChannel = (): Promise<WebChannelModule> =>
  import('@firebase/webchannel-wrapper/webchannel-blob') as Promise<unknown> as Promise<WebChannelModule>

/**
 * A connection to a fastify-webchannel server over WebSocket or WebChannel,
 * speaking ws-wrapper envelopes on both. States: connecting → open →
 * reconnecting → open … → closed. Created by `connect()`. Without
 * `options.loadWebChannel`, loads `@firebase/webchannel-wrapper/webchannel-blob`.
 */
export class Client<E extends EventMap = EventMap> extends CoreClient<E> {
  constructor (url: string, options: ClientOptions = {}) {
    super(url, { ...options, loadWebChannel: options.loadWebChannel ?? loadWebChannel })
  }
}

/**
 * Connect to a fastify-webchannel server. `url` is the plugin's prefix
 * (`/channel` in a browser, `http://host:port/channel` in Node); the client
 * tries `{url}/ws` and falls back to WebChannel at `{url}`. Returns at once;
 * listen for `open`, or just start sending (messages wait for the connection).
 *
 * Pass the schemas the server uses to type events: `connect<typeof events>(url)`.
 */
export function connect<E extends EventMap = EventMap> (url: string, options: ClientOptions = {}): Client<E> {
  return new Client<E>(url, options)
}

export * from './exports.js'
