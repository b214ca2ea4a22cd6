// socket.io 4 with both transports; the load generator picks websocket-only or
// polling-only per connection (it never upgrades), so one server serves both rows.
import { createServer } from 'node:http'
import { Server } from 'socket.io'
import { ready } from './control.mjs'

const server = createServer()
const io = new Server(server, { serveClient: false, transports: ['polling', 'websocket'], perMessageDeflate: false, httpCompression: false })
io.on('connection', (socket) => {
  socket.on('echo', (x, ack) => { if (typeof ack === 'function') ack(x) })
  socket.on('subscribe', (name, ack) => {
    if (name === 'bench') socket.join('bench')
    if (typeof ack === 'function') ack(name === 'bench')
  })
})
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
await ready({
  port: server.address().port,
  emit: (payload) => io.to('bench').emit('tick', payload),
  conns: () => io.engine.clientsCount,
})
