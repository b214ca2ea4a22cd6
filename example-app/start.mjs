// `npm start`: run the TypeScript example app through tsx and listen on HOST:PORT.
import { register } from 'tsx/esm/api'

register()
const { buildApp } = await import('./app.ts')
const host = process.env.HOST ?? '127.0.0.1'
const port = Number(process.env.PORT ?? 3000)
// TRUST_PROXY=1 behind a reverse proxy on the same machine (docs/deployment.md).
const trustProxy = process.env.TRUST_PROXY === '1' ? '127.0.0.1' : (process.env.TRUST_PROXY || false)
const app = await buildApp({ logger: process.env.LOG === '1', secret: process.env.SECRET, trustProxy })
await app.listen({ host, port })
const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host
console.log(`fastify-webchannel example chat: http://${shown}:${app.server.address().port}/`)
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
