// fastify-webchannel/client/websocket: the same client API as
// fastify-webchannel/client, without the default WebChannel loader. Its bundle
// never references @firebase/webchannel-wrapper, so a WebSocket-only app
// bundles without it installed. 'auto' means WebSocket only here, unless
// options.loadWebChannel is given (then it falls back as the full entry does):
//
//   connect(url, { loadWebChannel: () => import('@firebase/webchannel-wrapper/webchannel-blob') })
import { Client } from './client.js'
import type { ClientOptions, EventMap } from './types.js'

/**
 * Connect to a fastify-webchannel server over WebSocket at `{url}/ws`
 * (`url` is the plugin's prefix: `/channel` in a browser,
 * `http://host:port/channel` in Node). Returns at once; listen for `open`, or
 * just start sending (messages wait for the connection). With
 * `options.loadWebChannel`, falls back to WebChannel at `{url}`.
 *
 * Pass the schemas the server uses to type events: `connect<typeof events>(url)`.
 */
export function connect<E extends EventMap = EventMap> (url: string, options: ClientOptions = {}): Client<E> {
  return new Client<E>(url, options)
}

export { Client }
export * from './exports.js'
