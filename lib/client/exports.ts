// What both client entry points (index.ts, websocket.ts) export besides
// connect() and Client.
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
