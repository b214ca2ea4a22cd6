// fastify-webchannel/client: one API over WebSocket and WebChannel, for browsers and Node.
import { Client } from './client.js'
import type { ClientOptions, EventMap } from './types.js'

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

export { Client }
export { ClientChannel } from './channel.js'
export { ClientError, ClientErrorCode, RemoteError } from './errors.js'
export type { BackoffOptions } from './backoff.js'
export type { HeartbeatOptions } from './heartbeat.js'
export { defineEvents } from './types.js'
export type {
  ClientOptions, CloseInfo, ConnectionState, EventArgs, EventListener, EventMap, EventName, EventResult, EventSchema,
  LifecycleEvent, LifecycleEvents, OpenInfo, ReconnectInfo, RequestOptions, TransportChange, TransportKind,
  WebChannelModule, WebSocketConstructor,
} from './types.js'
