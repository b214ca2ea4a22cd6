// A deliberately broken raw `ws` server for bench/selfcheck.mjs: it proves the
// load generator's correctness checks fail loudly. BENCH_FAULT picks the bug:
//   mismatch: every 1000th echo answers with another request's payload
//   drop:     every 1000th echo is never answered
//   lose:     the fan-out skips one subscriber for message 3
//   reorder:  the fan-out sends messages 5 and 6 swapped to one subscriber
import { createServer } from 'node:http'
import { WebSocketServer } from 'ws'
import { ready } from './control.mjs'

const fault = process.env.BENCH_FAULT
const subscribers = []
let echoes = 0
const server = createServer((_req, res) => res.writeHead(404).end())
const wss = new WebSocketServer({ server, path: '/ws', perMessageDeflate: false })
wss.on('connection', (socket) => {
  socket.on('message', (data) => {
    const m = JSON.parse(data)
    if (m.a[0] === 'echo') {
      echoes++
      if (fault === 'drop' && echoes % 1000 === 0) return
      const d = fault === 'mismatch' && echoes % 1000 === 0 ? { ...m.a[1], k: m.a[1].k + 1 } : m.a[1]
      socket.send(JSON.stringify({ i: m.i, d }))
    } else if (m.a[0] === 'subscribe') {
      subscribers.push(socket)
      socket.send(JSON.stringify({ i: m.i, d: true }))
    }
  })
})
let held = null
function emit (payload) {
  const text = JSON.stringify({ c: 'bench', a: ['tick', payload] })
  subscribers.forEach((s, n) => {
    if (fault === 'lose' && payload.q === 3 && n === 0) return
    if (fault === 'reorder' && n === 0 && payload.q === 5) {
      held = text
      return
    }
    s.send(text)
    if (held !== null && n === 0) {
      s.send(held)
      held = null
    }
  })
}
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve))
await ready({ port: server.address().port, emit, conns: () => wss.clients.size })
