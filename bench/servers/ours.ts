// fastify-webchannel: both transports on one Fastify app, an `echo` request
// validated by a TypeBox schema, and one declared channel for fan-out.
// Bundled by bench/run.mjs with esbuild (packages external) and run with node.
import Fastify from 'fastify'
import { Type } from 'typebox'
import webchannel from '../../lib/index.js'
import { ready } from './control.mjs'

const app = Fastify({ logger: false })
// The load generator opens thousands of sessions and sends thousands of messages a second from one IP.
await app.register(webchannel, { rateLimit: { messages: false, sessionsPerIp: false, sessionsPerPrincipal: false, unknownSidPerIp: false } })
app.webchannel.on('echo', { args: [Type.Object({ k: Type.Integer(), p: Type.String() })] }, (_ctx, x) => x)
app.webchannel.channel('bench')
await app.listen({ host: '127.0.0.1', port: 0 })
const address = app.server.address()
await ready({
  port: typeof address === 'object' && address !== null ? address.port : 0,
  emit: (payload) => { app.webchannel.to('bench').emit('tick', payload) },
  conns: () => app.webchannel.sessions.size,
})
