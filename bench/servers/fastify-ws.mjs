// Fastify 5 + @fastify/websocket with a hand-written JSON handler (the same one as ws.mjs).
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { ready } from './control.mjs'
import { attach, emit } from './naive.mjs'

const app = Fastify({ logger: false })
await app.register(websocket, { options: { maxPayload: 1024 * 1024, perMessageDeflate: false } })
app.get('/ws', { websocket: true }, (socket) => attach(socket))
await app.listen({ host: '127.0.0.1', port: 0 })
await ready({ port: app.server.address().port, emit, conns: () => app.websocketServer.clients.size })
