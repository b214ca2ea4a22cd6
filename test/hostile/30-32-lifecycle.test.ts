// Cases 30-32: shutdown mid-session, Redis lost under a multi-instance
// setup, and hostile upgrade requests. Real sockets on 127.0.0.1.
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import t from 'tap'
import { Redis } from 'ioredis'
import { RedisAdapter } from '../../lib/index.js'
import { startApp } from '../helpers/app.js'
import { bc, hostileServer, hs, wcServes, wsServes } from '../helpers/hostile.js'
import { handshake, request, stream } from '../helpers/wc-raw.js'
import { connectWs } from '../helpers/ws-client.js'

t.test('case 30: shutdown mid-session: WebSocket 1001 (reason <= 123 bytes), back channels get close, new sessions refused, close() never hangs', async t => {
  let release!: () => void
  let started!: () => void
  const gate = new Promise<void>(resolve => { release = resolve })
  const inHandler = new Promise<void>(resolve => { started = resolve })
  const h = await hostileServer(t, { shutdownTimeout: 2000 }, app => {
    app.webchannel.on('slow', async () => { started(); await gate; return 'finished' })
  })
  const c = await connectWs(h.s.wsUrl)
  const { sid } = await handshake(h.origin)
  const g = await stream(h.origin, bc(sid, 0, 0))
  await g.until(txt => txt.includes('noop'), 'the back channel is open')
  const answer = c.wrapper.request('slow')
  await inHandler
  const t0 = Date.now()
  const closing = h.s.app.close()
  const refused = await request(h.origin, hs(), { body: 'count=0' }).then(r => r.status, () => 0)
  t.ok(refused === 503 || refused === 0, `a new /channel session while closing: ${refused === 0 ? 'connection refused' : 503}`)
  release()
  t.equal(await answer, 'finished', 'the handler in flight answered before the close')
  const [code, reason] = await c.closed
  t.equal(code, 1001)
  t.ok(Buffer.byteLength(reason) <= 123)
  await g.end(5000)
  t.same(g.arrays().at(-1)?.[1], ['close'], 'the back channel carried close')
  await closing
  t.ok(Date.now() - t0 < 5000, `close() finished in ${Date.now() - t0} ms`)
  t.same(h.ended.map(e => e.reason).sort(), ['shutdown', 'shutdown'])
})

t.test('case 30: after a restart, an old SID gets Unknown SID (the client reconnects)', async t => {
  const first = await hostileServer(t)
  const { sid } = await handshake(first.origin)
  await first.s.app.close()
  const second = await hostileServer(t)
  const res = await request(second.origin, bc(sid, 0, 1))
  t.equal(res.status, 400)
  t.ok(res.body.indexOf('Unknown SID') > 0)
  await wcServes(t, second.origin)
})

/** A TCP proxy in front of Redis that the test can cut and restore. */
async function redisProxy (t: import('tap').Test) {
  const sockets = new Set<net.Socket>()
  let up = true
  const server = net.createServer(client => {
    if (!up) { client.destroy(); return }
    const upstream = net.connect(6379, '127.0.0.1')
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}) }
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { up = false; for (const s of sockets) s.destroy(); server.close() })
  return {
    port: (server.address() as net.AddressInfo).port,
    cut () { up = false; for (const s of sockets) s.destroy() },
    restore () { up = true },
  }
}

t.test('case 31: Redis lost: local delivery continues, nothing crashes, cross-node delivery resumes after reconnect', async t => {
  const proxy = await redisProxy(t)
  const key = 'fwc-hostile-' + randomBytes(6).toString('hex')
  const errors: Error[] = []
  const node = async () => {
    const pub = new Redis({ host: '127.0.0.1', port: proxy.port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 50 })
    const sub = new Redis({ host: '127.0.0.1', port: proxy.port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 50 })
    for (const r of [pub, sub]) r.on('error', (e: Error) => errors.push(e))
    await pub.connect()
    await sub.connect()
    const s = await startApp({ adapter: new RedisAdapter({ pub, sub, key }) }, app => {
      app.webchannel.channel('room:*')
      app.webchannel.on('echo', (_c, x: unknown) => x)
    })
    t.teardown(async () => { await s.app.close(); pub.disconnect(); sub.disconnect() })
    return { s, sub }
  }
  const one = await node()
  const two = await node()
  const local = await connectWs(one.s.wsUrl)
  const remote = await connectWs(two.s.wsUrl)
  await local.wrapper.request('subscribe', 'room:r')
  await remote.wrapper.request('subscribe', 'room:r')
  const heard = (c: typeof local, text: string) => new Promise(resolve => c.wrapper.of('room:r').on('said', (x: string) => { if (x === text) resolve(x) }))

  const before = heard(remote, 'before')
  one.s.app.webchannel.to('room:r').emit('said', 'before')
  t.equal(await before, 'before', 'cross-node delivery works')

  proxy.cut()
  const localOnly = heard(local, 'during')
  t.doesNotThrow(() => one.s.app.webchannel.to('room:r').emit('said', 'during'), 'emit does not throw while Redis is gone')
  t.equal(await localOnly, 'during', 'local delivery continues')

  proxy.restore()
  await new Promise<void>(resolve => { if (two.sub.status === 'ready') resolve(); else two.sub.once('ready', () => resolve()) })
  // Resubscription may take a moment after 'ready': retry the probe a bounded number of times.
  let resumed = false
  for (let i = 0; i < 50 && !resumed; i++) {
    const after = heard(remote, 'after-' + i)
    one.s.app.webchannel.to('room:r').emit('said', 'after-' + i)
    resumed = await Promise.race([after.then(() => true), new Promise<boolean>(resolve => setTimeout(() => resolve(false), 100))])
  }
  t.ok(resumed, 'cross-node delivery resumes after Redis comes back')
  await wsServes(t, one.s.wsUrl)
  local.ws.close()
  remote.ws.close()
})

/** Raw upgrade request; resolves with the status line the server answers (or 'closed'). */
function rawUpgrade (port: number, headers: string): Promise<string> {
  return new Promise(resolve => {
    const socket = net.connect(port, '127.0.0.1')
    let head = ''
    socket.on('data', c => { head += c.toString('latin1'); if (head.includes('\r\n')) { resolve(head.split('\r\n')[0]); socket.destroy() } })
    socket.on('error', () => resolve('closed'))
    socket.on('close', () => resolve(head === '' ? 'closed' : head.split('\r\n')[0]))
    socket.write(`GET /channel/ws HTTP/1.1\r\nHost: 127.0.0.1\r\n${headers}\r\n`)
  })
}

const upgradeHeaders = 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'

t.test('case 32: hostile upgrade requests get an HTTP error, never a crash; the server stays up', async t => {
  const h = await hostileServer(t, { websocket: { subprotocols: ['v1'] } })
  const many = Array.from({ length: 2000 }, (_, i) => `X-H${i}: ${i}\r\n`).join('')
  t.match(await rawUpgrade(h.s.port, upgradeHeaders + many), /^HTTP\/1\.1 431|closed/, '2000 headers: 431 (Node\'s header limit)')
  t.match(await rawUpgrade(h.s.port, upgradeHeaders + 'Sec-WebSocket-Protocol: ' + ' '.repeat(8000) + 'v1' + ' '.repeat(4000) + '\r\n'), /^HTTP\/1\.1 (101|400)/, 'a spaces-padded subprotocol: 101 or 400')
  t.match(await rawUpgrade(h.s.port, upgradeHeaders + 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=99; ;;;=, x-garbage=\u0001\r\n'), /^HTTP\/1\.1 (101|400)/, 'garbage extensions: 400 or ignored')
  t.match(await rawUpgrade(h.s.port, 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n'), /^HTTP\/1\.1 400/, 'no key: 400')
  t.match(await rawUpgrade(h.s.port, 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n'), /^HTTP\/1\.1 400/, 'a bad key: 400')
  t.match(await rawUpgrade(h.s.port, 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 99\r\n'), /^HTTP\/1\.1 (400|426)/, 'an unknown version: 400/426')
  await wsServes(t, h.s.wsUrl)
  await wcServes(t, h.origin)
})
