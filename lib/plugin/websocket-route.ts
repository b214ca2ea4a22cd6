import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { FastifyContextConfig, FastifyInstance, FastifyRequest } from 'fastify'
import type { WebSocket } from 'ws'
import type { Hub } from '../hub/hub.js'
import type { ResolvedOptions } from '../options.js'
import { Keepalive } from '../transports/websocket/keepalive.js'
import { OutboundMessage, type Transport } from '../transports/transport.js'
import { NO_RESUME_HELLO, ResumableTransport, type ResumeOptions } from '../transports/websocket/resumable.js'
import { Relay } from './relay.js'
import { WebSocketResume, type ResumePlan } from './websocket-resume.js'
import { WsConnection } from '../transports/websocket/ws-connection.js'
import { HttpRefusal, refusal } from '../errors.js'
import { redactedRequest } from './log-redaction.js'
import { refuseOrigin } from './origin.js'
import { sendRefusal } from './refusal.js'

const kUpgradeTimer = Symbol('webchannel.upgradeTimer')
const kUpgradeSocket = Symbol('webchannel.upgradeSocket')
const kUpgraded = Symbol('webchannel.upgraded')
const kUpgradeDone = Symbol('webchannel.upgradeDone')
const kUpgradeResponse = Symbol('webchannel.upgradeResponse')
const kResumePlan = Symbol('webchannel.resumePlan')
type TimedRequest = IncomingMessage & {
  [kUpgradeTimer]?: NodeJS.Timeout
  [kUpgradeSocket]?: Duplex
  [kUpgraded]?: boolean
  [kUpgradeDone]?: () => void
  [kUpgradeResponse]?: ServerResponse
  [kResumePlan]?: ResumePlan
}

/** The subprotocol the server picks: its first preference the client offered. */
export function pickSubprotocol (offered: Set<string>, supported: readonly string[]): string | false {
  for (const p of supported) if (offered.has(p)) return p
  return false
}

function offeredProtocols (request: FastifyRequest): Set<string> {
  const header = request.headers['sec-websocket-protocol']
  const set = new Set<string>()
  if (typeof header === 'string') for (const p of header.split(',')) if (p.trim() !== '') set.add(p.trim())
  return set
}

/**
 * `{prefix}{websocket.path}`: the upgrade runs through the app's Fastify hooks
 * (a hook that replies 401/403 refuses it), then origin, subprotocol and
 * admission checks, then the session opens.
 */
export async function registerWebSocketRoute (fastify: FastifyInstance, hub: Hub, opts: ResolvedOptions): Promise<void> {
  const wsOpts = opts.websocket
  const path = (opts.prefix === '/' ? '' : opts.prefix) + wsOpts.path
  const keepalive = new Keepalive(wsOpts)
  const forgetConnection = (conn: WsConnection): void => keepalive.delete(conn)

  watchUpgrades(fastify, path, wsOpts.handshakeTimeout, keepalive)

  const resume = webSocketResume(hub, opts, path)

  fastify.route({
    method: 'GET',
    url: path,
    config: { ...opts.routeConfig, compress: false } as FastifyContextConfig,
    // Tokens and ids in the URL stay out of the logs.
    logSerializers: { req: redactedRequest },
    // A refused upgrade must free its socket. @fastify/websocket only does so when
    // its own onRequest hook ran, which an app hook that replies first prevents;
    // the half-open socket would then hold app.close() forever. Route-level:
    // the app's other routes never pay for it.
    onResponse: (request, _reply, done) => {
      const raw = request.raw as TimedRequest
      const socket = raw[kUpgradeSocket]
      if (socket !== undefined && raw[kUpgraded] !== true) socket.destroy()
      done()
    },
    // Runs after the app's own preHandler hooks, before the upgrade.
    preHandler: async (request, reply) => {
      const timer = (request.raw as TimedRequest)[kUpgradeTimer]
      if (timer !== undefined) clearTimeout(timer)
      if (!request.ws) {
        // Another instance, whose client came back there, asks for a session of ours.
        if (resume !== null && (request.query as { release?: unknown }).release !== undefined) return await resume.release(request, reply)
        return sendRefusal(reply, HttpRefusal.UPGRADE_REQUIRED)
      }
      if (refuseOrigin(request, reply, opts.origin)) return reply
      if (wsOpts.requireSubprotocol && pickSubprotocol(offeredProtocols(request), wsOpts.subprotocols) === false) {
        return sendRefusal(reply, refusal(HttpRefusal.SUBPROTOCOL_REQUIRED, `Offer one of these subprotocols: ${wsOpts.subprotocols.join(', ')}`))
      }
      // A client coming back to its own session is no new session: no admission.
      const plan = resume === null ? null : await resume.plan(request)
      ;(request.raw as TimedRequest)[kResumePlan] = plan ?? undefined
      if (plan === null) {
        const refused = hub.admit(opts.principal(request), request.ip)
        if (refused !== null) return sendRefusal(reply, refused)
      }
      // The upgrade's stand-in response, to be unhooked from the socket once upgraded.
      ;(request.raw as TimedRequest)[kUpgradeResponse] = reply.raw
    },
    handler: (_request, reply) => sendRefusal(reply, HttpRefusal.UPGRADE_REQUIRED),
    wsHandler: (socket: WebSocket, request: FastifyRequest) => {
      upgraded(socket, request)
      const conn = new WsConnection(socket, request.raw.socket, wsOpts, request.log, forgetConnection)
      if (hub.closing) {
        socket.close(opts.closeCode, opts.closeReason)
        return
      }
      const plan = (request.raw as TimedRequest)[kResumePlan]
      if (plan !== undefined && resume !== null && resume.continueOn(plan, conn, request)) {
        keepalive.add(conn)
        return
      }
      const principal = opts.principal(request)
      const transport = sessionTransport(conn, request, resume, principal)
      const session = hub.open({ transport, request, principal, subprotocol: socket.protocol === '' ? null : socket.protocol })
      keepalive.add(conn)
      session.log.debug('webchannel: websocket session opened')
    },
  })
}

function watchUpgrades (fastify: FastifyInstance, path: string, handshakeTimeout: number, keepalive: Keepalive): void {
  const onUpgrade = upgradeWatch(path, handshakeTimeout)
  // Prepended: it must arm the timer before @fastify/websocket routes the request.
  fastify.server.prependListener('upgrade', onUpgrade)
  fastify.addHook('onClose', (_i, done) => {
    fastify.server.off('upgrade', onUpgrade)
    keepalive.stop()
    done()
  })
}

/** WebSocket resume as the options have it: null when off; with a session store, across instances. */
function webSocketResume (hub: Hub, opts: ResolvedOptions, path: string): WebSocketResume | null {
  if (opts.websocket.resume === false) return null
  const store = opts.sessionStore
  const relay = store === null ? null : new Relay(store.instanceId)
  if (relay !== null) hub.onClose(() => relay.close())
  // Filled in by resolveOptions when not false.
  return new WebSocketResume(hub, opts, opts.websocket.resume as ResumeOptions, path, store, relay)
}

/** A client that asks for resumability (or could not resume) gets a resumable session, or a hello saying there is none. */
function sessionTransport (conn: WsConnection, request: FastifyRequest, resume: WebSocketResume | null, principal: unknown): Transport {
  if (typeof (request.query as { resume?: unknown }).resume !== 'string') return conn
  if (resume !== null) return new ResumableTransport(conn, resume.options, resume.persistFor(principal))
  conn.send(new OutboundMessage(NO_RESUME_HELLO))
  return conn
}

/**
 * The `upgrade` listener for our path: upgrades whose hooks have not finished
 * within handshakeTimeout get 408, and a refused upgrade's socket is freed.
 */
function upgradeWatch (path: string, handshakeTimeout: number) {
  return function onUpgrade (raw: TimedRequest, socket: Duplex): void {
    const url = raw.url ?? ''
    if (url !== path && !url.startsWith(path + '?')) return
    raw[kUpgradeSocket] = socket
    // A refused upgrade's socket is not closed by Node (no HTTP parser owns it):
    // once the client hangs up, free it, or app.close() waits on it forever.
    const onEnd = () => { if (raw[kUpgraded] !== true) socket.destroy() }
    socket.once('end', onEnd)
    raw[kUpgradeTimer] = setTimeout(() => {
      if (!socket.destroyed) {
        socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
        socket.destroy()
      }
    }, handshakeTimeout)
    raw[kUpgradeTimer].unref()
    const onClose = () => clearTimeout(raw[kUpgradeTimer])
    socket.once('close', onClose)
    // Once upgraded, drop what the upgrade bookkeeping holds: these two listeners
    // (and the cleared Timeout on raw) would otherwise live as long as the socket.
    raw[kUpgradeDone] = () => {
      clearTimeout(raw[kUpgradeTimer])
      socket.off('end', onEnd)
      socket.off('close', onClose)
      raw[kUpgradeTimer] = undefined
      raw[kUpgradeSocket] = undefined
      raw[kUpgradeDone] = undefined
    }
  }
}

/** The upgrade is done: drop what would otherwise live as long as the socket. */
function upgraded (socket: WebSocket, request: FastifyRequest): void {
  const raw = request.raw as TimedRequest
  raw[kUpgraded] = true
  raw[kUpgradeDone]?.()
  // @fastify/websocket's 'error' listener closes over the route's request
  // and reply, keeping them alive as long as the socket. WsConnection's
  // own listener does the same job (log, cut the connection).
  socket.removeAllListeners('error')
  // @fastify/websocket assigned its stand-in ServerResponse to the TCP
  // socket, which then points at it (and its Reply) for life: unhook it.
  const res = raw[kUpgradeResponse]
  raw[kUpgradeResponse] = undefined
  if (res !== undefined && res.socket === request.raw.socket) res.detachSocket(request.raw.socket)
}
