import type { Socket } from 'node:net'

// Frames written in one event-loop turn leave in one writev: the first write
// of a turn corks the socket, and one nextTick uncorks every corked socket.
// Nothing is held past the current turn.

const corked = new Set<Socket>()
let scheduled = false

function flush (): void {
  scheduled = false
  for (const s of corked) if (s.writableCorked > 0) s.uncork()
  corked.clear()
}

/** Cork `socket` until the end of this turn. Returns false if it already was. */
export function corkForThisTurn (socket: Socket): boolean {
  if (corked.has(socket)) return false
  socket.cork()
  corked.add(socket)
  if (!scheduled) {
    scheduled = true
    process.nextTick(flush)
  }
  return true
}
