// The hand-written handler a user would write on a bare WebSocket server: parse
// the ws-wrapper envelope, answer `echo` requests, keep one channel's subscribers
// in a Set. Shared by the raw `ws` server and the @fastify/websocket one, so the
// two differ only in the framework around them.

/** Subscribers of the bench channel. */
export const subscribers = new Set()

export function attach (socket) {
  socket.on('message', (data) => {
    let m
    try {
      m = JSON.parse(data)
    } catch {
      return
    }
    if (m === null || typeof m !== 'object' || !Array.isArray(m.a)) return
    const name = m.a[0]
    if (name === 'echo') {
      socket.send(JSON.stringify({ i: m.i, d: m.a[1] }))
    } else if (name === 'subscribe') {
      if (m.a[1] === 'bench') subscribers.add(socket)
      socket.send(JSON.stringify({ i: m.i, d: m.a[1] === 'bench' }))
    }
  })
  socket.on('close', () => subscribers.delete(socket))
}

/** Serialise once, send to each subscriber (what a careful hand-written server does). */
export function emit (payload) {
  const text = JSON.stringify({ c: 'bench', a: ['tick', payload] })
  for (const s of subscribers) s.send(text)
}
