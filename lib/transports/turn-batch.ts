import type { Socket } from 'node:net'
import { performance } from 'node:perf_hooks'

// Writes made in one event-loop turn leave together: the first WebSocket
// frame of a turn corks its TCP socket, the first message of a turn for a
// WebChannel session holds it for one chunk, and one nextTick flushes them
// all. So a burst costs one write per socket, not one per message.
//
// Bounded: a turn that emits a lot (an app looping over thousands of emits)
// does not hold everything until it ends. Once the writes held since the last
// flush reach BYTE_BUDGET, or the batch has been open for half as long as the
// last flush took (at least MIN_BATCH_MS), what is held is flushed at once and
// a new batch starts. Messages then reach the wire while the loop still runs,
// corked memory stays bounded, and each socket still gets several messages
// per write: a message waits at most about one and a half flushes, and the
// time spent batching is at least half the time spent writing.

/** Bytes held (all sockets and sessions together) before an early flush. */
export const BYTE_BUDGET = 1024 * 1024
/** The shortest a batch stays open before the clock may flush it (ms). */
export const MIN_BATCH_MS = 1
/** Read the clock once per this many writes. */
const CHECK_EVERY = 64

/** A WebChannel session holding this turn's messages for one chunk. */
export interface HeldWriter {
  writeHeld (): void
}

const corked = new Set<Socket>()
const held = new Set<HeldWriter>()
let scheduled = false
let bytes = 0
let writes = 0
/** When the open batch began (performance.now(); 0: no batch open). */
let openedAt = 0
/** How long a batch may stay open before the clock flushes it (ms). */
let batchMs = MIN_BATCH_MS

function flush (): void {
  const t0 = performance.now()
  bytes = 0
  writes = 0
  openedAt = 0
  for (const s of corked) if (s.writableCorked > 0) s.uncork()
  corked.clear()
  for (const h of held) {
    held.delete(h)
    h.writeHeld()
  }
  batchMs = Math.max(MIN_BATCH_MS, (performance.now() - t0) / 2)
}

function endOfTurn (): void {
  scheduled = false
  if (openedAt !== 0) flush()
}

function open (): void {
  if (openedAt === 0) openedAt = performance.now()
  if (!scheduled) {
    scheduled = true
    process.nextTick(endOfTurn)
  }
}

/** Cork `socket` until the end of this turn (or the budget). Returns false if it already was. */
export function corkForThisTurn (socket: Socket): boolean {
  if (corked.has(socket)) return false
  socket.cork()
  corked.add(socket)
  open()
  return true
}

/** `writer.writeHeld()` runs at the end of this turn (or once the budget is spent), once. */
export function holdForThisTurn (writer: HeldWriter): void {
  if (held.has(writer)) return
  held.add(writer)
  open()
}

/** Count `n` bytes just written to a corked socket or held; flush everything if the budget is spent. */
export function spend (n: number): void {
  bytes += n
  if (bytes >= BYTE_BUDGET || (++writes % CHECK_EVERY === 0 && performance.now() - openedAt >= batchMs)) flush()
}
