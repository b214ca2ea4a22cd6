import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import websocket from '@fastify/websocket'
import { FST_WEBCHANNEL_WEBSOCKET_REGISTERED } from './errors.js'
import { Hub } from './hub/hub.js'
import { resolveOptions, type WebChannelOptions } from './options.js'
import { registerAdminRoutes } from './plugin/admin-routes.js'
import { WebChannelApi } from './plugin/api.js'
import { registerMetrics } from './plugin/metrics.js'
import { registerWebChannelRoutes } from './plugin/webchannel-routes.js'
import { pickSubprotocol, registerWebSocketRoute } from './plugin/websocket-route.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** fastify-webchannel: handlers, channels, and emits to sessions on every transport. */
    webchannel: WebChannelApi
  }
}

const plugin: FastifyPluginAsync<WebChannelOptions> = async function fastifyWebchannel (fastify: FastifyInstance, rawOptions) {
  const { ...userOptions } = rawOptions
  const options = resolveOptions(userOptions)
  const hub = new Hub(options, fastify.log)
  const { path: asyncapiPath, ...asyncapi } = options.asyncapi === false ? { path: undefined } : options.asyncapi
  const api = new WebChannelApi(hub, { prefix: options.prefix, wsPath: options.websocket.path, asyncapi })
  fastify.decorate('webchannel', api)
  if (options.adapter !== null) await hub.setAdapter(options.adapter)
  if (options.metrics !== false && hub.meter !== null) api.setMetrics(await registerMetrics(hub, hub.meter, options.metrics))

  if (options.websocket.enabled) {
    if (fastify.hasDecorator('websocketServer')) throw new FST_WEBCHANNEL_WEBSOCKET_REGISTERED()
    const pmd = options.websocket.perMessageDeflate
    // In a child context: @fastify/websocket's own hooks then run on our
    // WebSocket route only, not on every route of the app.
    await fastify.register(async function webSocketTransport (child) {
      await child.register(websocket, {
        options: {
          maxPayload: options.websocket.maxMessageSize,
          perMessageDeflate: pmd === false
            ? false
            : { zlibDeflateOptions: { level: pmd === true ? 6 : pmd.level ?? 6 }, threshold: pmd === true ? 1024 : pmd.threshold ?? 1024 },
          handleProtocols: (offered: Set<string>) => pickSubprotocol(offered, options.websocket.subprotocols),
        },
        // Graceful shutdown is the hub's: close codes, bounded waits.
        preClose: async () => { await hub.close() },
      })
      await registerWebSocketRoute(child, hub, options)
      // What @fastify/websocket offers apps (injectWS for tests, the ws server), on the app itself.
      fastify.decorate('injectWS', child.injectWS)
      fastify.decorate('websocketServer', { getter: () => child.websocketServer })
    })
  } else {
    fastify.addHook('preClose', async () => { await hub.close() })
  }
  if (options.webchannel.enabled) await registerWebChannelRoutes(fastify, hub, options)
  if (options.admin !== false) registerAdminRoutes(fastify, api, options.admin.path, options.routeConfig)
  if (options.asyncapi !== false) {
    const url = asyncapiPath ?? (options.prefix === '/' ? '' : options.prefix) + '/asyncapi.json'
    fastify.get(url, { config: options.routeConfig }, async () => api.asyncapi())
  }
}

/** The plugin: `await app.register(webchannel, options)`. */
const webchannel = fp(plugin, { fastify: '5.x', name: 'fastify-webchannel' })
export default webchannel
export { webchannel }

export type { WebChannelOptions, WebSocketOptions, WebChannelTransportOptions, CorsOptions, OriginOption } from './options.js'
export { WebChannelApi, ChannelApi, defineEvents, type TypedHandler, type UntypedHandler } from './plugin/api.js'
export type { AsyncApiOptions } from './plugin/asyncapi.js'
export type { SessionInfo } from './hub/hub.js'
export { Broadcast, SessionTarget, type EventMap, type SessionRef } from './plugin/targets.js'
export type { EventContext } from './events/context.js'
export type { EventSchema, ArgsOf, ResultOf } from './events/schema.js'
export { Session, SessionChannel } from './session/session.js'
export type { RawMessage } from './session/inbox.js'
export type { Principal, PrincipalRegistry } from './session/principal.js'
export type { EndReason, TransportKind } from './transports/transport.js'
export { OutboundMessage } from './transports/transport.js'
export type { Adapter, AdapterEvent, AdapterHealth, DropReason, LocalSessions, Target } from './hub/adapter.js'
export type { BufferOptions } from './hub/outbox.js'
export { MemoryAdapter } from './hub/adapter.js'
export { RedisAdapter, type RedisAdapterOptions, type RedisLike } from './hub/redis-adapter.js'
export { redisAdapter, type RedisAdapterFactoryOptions } from './hub/redis-factory.js'
export type { SessionStore, StoredSession, Route } from './store/session-store.js'
export { RedisSessionStore, type RedisSessionStoreOptions, type RedisCommander } from './store/redis-session-store.js'
export type { Authorize } from './events/channels.js'
export { WireError, WireErrorCode, CloseCode, HttpRefusal, type Refusal } from './errors.js'
export * as errors from './errors.js'
