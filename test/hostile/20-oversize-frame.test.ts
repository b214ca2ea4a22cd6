// Case 20: a WebSocket frame over maxPayload closes with 1009, every time,
// even while the peer is still writing the frame (issue 17, defect 2: the
// socket was destroyed at once and the RST discarded the close frame, so the
// peer saw 1006 for most 10 and 50 MB frames).
import { execFile } from 'node:child_process'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startApp } from '../helpers/app.js'
import { EndLog } from '../helpers/events.js'
import { connectWs } from '../helpers/ws-client.js'

const TRIES = 20
const client = fileURLToPath(new URL('../fixtures/hostile/oversize-client.mjs', import.meta.url))

/**
 * The client runs in its own process: in this one, the server's event loop
 * would schedule the client's reads and hide the race.
 */
function oversizeFrames (wsUrl: string, mb: number, tries: number, parallel: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [client, wsUrl, String(mb), String(tries), String(parallel)], { timeout: 60_000 }, (err, stdout) => {
      if (err !== null) reject(err)
      else resolve(JSON.parse(stdout))
    })
  })
}

for (const mb of [2, 10, 50]) {
  t.test(`a ${mb} MB text frame against the 1 MiB default is closed with 1009, ${TRIES} times in a row`, async t => {
    const ended = new EndLog()
    const s = await startApp({ onSessionEnd: ended.hook })
    t.teardown(() => s.app.close())
    // In pairs: the defect showed most while the peer was still writing.
    const codes = await oversizeFrames(s.wsUrl, mb, TRIES, 2)
    t.equal(codes.length, TRIES)
    t.same(codes.filter(c => c !== 1009), [], `close codes seen by the client: ${JSON.stringify(codes)}`)
    const ends = await ended.count(TRIES)
    t.same(ends.map(e => [e.code, e.reason]).filter(([c]) => c !== 1009), [], 'the server reports 1009 for every session')

    // Still serving: a normal session opens and is answered.
    const c = await connectWs(s.wsUrl)
    c.ws.send(JSON.stringify({ i: 1, a: ['subscribe', 'x'] }))
    const reply = await new Promise<any>(resolve => c.ws.once('message', d => resolve(JSON.parse(d.toString()))))
    t.equal(reply.i, 1, 'a new session is answered afterwards')
    c.ws.close()
  })
}

t.test('just over the limit (1 MiB + 1 byte) also gets 1009', async t => {
  const s = await startApp()
  t.teardown(() => s.app.close())
  t.same(await oversizeFrames(s.wsUrl, 1 + 1 / (1024 * 1024), 2, 1), [1009, 1009])
})

t.test('a peer that keeps writing past the limit and never reads is cut after a bounded grace, buffering nothing', async t => {
  const ended = new EndLog()
  const s = await startApp({ onSessionEnd: ended.hook })
  t.teardown(() => s.app.close())
  const socket = net.connect(s.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.write('GET /channel/ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n')
  await new Promise<void>(resolve => socket.once('data', () => { socket.pause(); resolve() }))
  // A masked text frame header announcing 1 GiB (64-bit length), then its payload, endlessly.
  const header = Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4])
  const startedAt = Date.now()
  const rssBefore = process.memoryUsage().rss
  let written = 0
  socket.on('error', () => {})
  const chunk = Buffer.alloc(256 * 1024, 0x61)
  socket.write(header)
  // Bounded: 4 GiB at most; the server is expected to cut long before.
  while (!socket.destroyed && written < 4 * 1024 ** 3) {
    written += chunk.length
    if (!socket.write(chunk)) await new Promise(resolve => { socket.once('drain', resolve); socket.once('close', resolve) })
  }
  const [end] = await ended.count(1)
  const elapsed = Date.now() - startedAt
  t.equal(end.code, 1009, 'the session ends as 1009')
  t.ok(elapsed < 1500 + 1500, `cut after the grace period (${elapsed} ms, ${Math.round(written / 1024 / 1024)} MiB written)`)
  const grown = process.memoryUsage().rss - rssBefore
  t.ok(grown < 64 * 1024 * 1024, `the discarded bytes were not buffered (RSS grew ${Math.round(grown / 1024 / 1024)} MiB)`)
})

t.test('a permessage-deflate inflate bomb is counted after decompression: 1009, default limit in the 64 KiB-1 MiB range', async t => {
  const ended = new EndLog()
  const s = await startApp({ onSessionEnd: ended.hook, websocket: { perMessageDeflate: true } })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl, { perMessageDeflate: true })
  t.ok(c.ws.extensions.includes('permessage-deflate'), 'deflate negotiated')
  // 8 MiB of zeros deflate to a few KiB on the wire.
  c.ws.send('0'.repeat(8 * 1024 * 1024))
  t.equal((await c.closed)[0], 1009)
  t.equal((await ended.count(1))[0].code, 1009)
  const under = await connectWs(s.wsUrl, { perMessageDeflate: true })
  under.ws.send(JSON.stringify({ i: 1, a: ['nobody', '0'.repeat(1024 * 1024 - 100)] }))
  const reply = await new Promise<any>(resolve => under.ws.once('message', d => resolve(JSON.parse(d.toString()))))
  t.equal(reply.i, 1, 'just under 1 MiB inflated is accepted (the default limit is 1 MiB, not ws\'s 100 MiB)')
  under.ws.close()
})
