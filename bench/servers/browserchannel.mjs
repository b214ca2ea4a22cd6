// The `browserchannel` npm server (node-browserchannel): BrowserChannel v8 long-poll,
// the same wire the WebChannel client speaks, at /channel/bind. Messages arrive as
// BCSocket `JSON` maps; the handler is the same naive envelope handler as naive.mjs.
import { createRequire } from 'node:module'
import { createServer } from 'node:http'
import { ready } from './control.mjs'

const require = createRequire(import.meta.url)
const browserChannel = require('browserchannel').server

const subscribers = new Set()
let sessions = 0
const middleware = browserChannel({ base: '/channel' }, (session) => {
  sessions++
  session.on('message', (m) => {
    if (m === null || typeof m !== 'object' || !Array.isArray(m.a)) return
    const name = m.a[0]
    if (name === 'echo') {
      session.send({ i: m.i, d: m.a[1] })
    } else if (name === 'subscribe') {
      if (m.a[1] === 'bench') subscribers.add(session)
      session.send({ i: m.i, d: m.a[1] === 'bench' })
    }
  })
  session.on('close', () => {
    sessions--
    subscribers.delete(session)
  })
})
const server = createServer((req, res) => middleware(req, res, () => res.writeHead(404).end()))
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
await ready({
  port: server.address().port,
  emit: (payload) => {
    const message = { c: 'bench', a: ['tick', payload] }
    for (const s of subscribers) s.send(message)
  },
  conns: () => sessions,
})
