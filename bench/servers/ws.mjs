// Raw `ws` on a bare node:http server: the practical ceiling of a naive server.
import { createServer } from 'node:http'
import { WebSocketServer } from 'ws'
import { ready } from './control.mjs'
import { attach, emit } from './naive.mjs'

const server = createServer((_req, res) => res.writeHead(404).end())
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false, maxPayload: 1024 * 1024 })
wss.on('connection', attach)
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
await ready({ port: server.address().port, emit, conns: () => wss.clients.size })
