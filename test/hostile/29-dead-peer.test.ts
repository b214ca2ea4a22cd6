// Case 29: a dead peer (no pong) is terminated within ping interval + timeout,
// and healthy peers are never cut, whatever the ratio of the two settings
// (issue 17, defect 1: one shared pong deadline cut healthy peers whenever
// pongTimeout was a multiple of pingInterval).
import net from 'node:net'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { startApp, type Started } from '../helpers/app.js'
import { EndLog } from '../helpers/events.js'
import { connectWs } from '../helpers/ws-client.js'

/** Scheduling slack on a loaded 2-core machine. */
const SLACK = 300
const HEALTHY = 4
const INSTANCES = 3
/** Pings each healthy client must see while staying open. */
const PINGS = 12

/** Completes the upgrade, then never reads or answers again. */
async function rawSilentPeer (port: number, tag: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  socket.write(
    'GET /channel/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nX-Peer: ${tag}\r\n\r\n`)
  let head = ''
  await new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      head += chunk.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      socket.off('data', onData)
      socket.pause()
      if (!head.startsWith('HTTP/1.1 101')) reject(new Error('upgrade refused: ' + head.split('\r\n')[0]))
      else resolve()
    }
    socket.on('data', onData)
    socket.once('error', reject)
  })
  return socket
}

/** How many of `n` pings `ws` saw before it closed (n: it stayed open for all n). */
function pings (ws: WebSocket, n: number): Promise<number> {
  let seen = 0
  return new Promise(resolve => {
    ws.on('ping', () => { if (++seen === n) resolve(n) })
    ws.once('close', () => resolve(seen))
  })
}

async function instance (t: Test, pingInterval: number, pongTimeout: number, index: number): Promise<void> {
  const ended = new EndLog()
  const endedAt = new Map<string, number>()
  const onSessionEnd: typeof ended.hook = (session, ...rest) => { endedAt.set(String(session.request.headers['x-peer']), Date.now()); ended.hook(session, ...rest) }
  const s: Started = await startApp({ onSessionEnd, websocket: { pingInterval, pongTimeout } })
  t.teardown(() => s.app.close())
  const bound = pingInterval + pongTimeout + SLACK

  const healthy = await Promise.all(Array.from({ length: HEALTHY }, () => connectWs(s.wsUrl)))
  const survived = Promise.all(healthy.map(c => pings(c.ws, PINGS)))

  // A ws client that stops answering pings.
  const mutedAt = Date.now()
  const muted = await connectWs(s.wsUrl, { autoPong: false, headers: { 'x-peer': 'muted' } })
  // A raw socket that completes the upgrade and never reads again.
  const rawAt = Date.now()
  const raw = await rawSilentPeer(s.port, 'raw')
  t.teardown(() => raw.destroy())

  const [code] = await muted.closed
  const mutedElapsed = Date.now() - mutedAt
  t.equal(code, 1006, `#${index}: the muted peer is cut without a close frame`)
  t.ok(mutedElapsed <= bound, `#${index}: the muted peer is cut within interval + timeout (${mutedElapsed} ms <= ${bound} ms)`)

  await ended.count(2)
  const rawEnd = ended.ends.find(e => e.session.request.headers['x-peer'] === 'raw')
  t.ok(rawEnd, `#${index}: the raw silent peer's session ended`)
  if (rawEnd !== undefined) {
    t.equal(rawEnd.reason, 'timeout', `#${index}: raw silent peer ended as timeout`)
    const rawElapsed = (endedAt.get('raw') ?? Infinity) - rawAt
    t.ok(rawElapsed <= bound, `#${index}: the raw silent peer is cut within interval + timeout (${rawElapsed} ms)`)
  }

  t.same(await survived, healthy.map(() => PINGS), `#${index}: every healthy peer stays open for ${PINGS} pings`)
  t.same(ended.ends.map(e => e.session.request.headers['x-peer']).sort(), ['muted', 'raw'], `#${index}: only the two silent peers ended`)

  // Still serving: a new peer opens and gets an answer.
  const fresh = await connectWs(s.wsUrl)
  t.equal(await pings(fresh.ws, 2), 2, `#${index}: a new peer is served afterwards`)
  for (const c of [...healthy, fresh]) c.ws.close()
}

for (const [pingInterval, pongTimeout] of [[100, 100], [100, 200], [200, 100], [50, 100], [100, 300]]) {
  t.test(`keepalive ${pingInterval}/${pongTimeout}: healthy peers survive ${PINGS} pings on ${INSTANCES} instances, silent peers are cut within interval + timeout`, async t => {
    await Promise.all(Array.from({ length: INSTANCES }, (_, i) => instance(t, pingInterval, pongTimeout, i)))
  })
}
