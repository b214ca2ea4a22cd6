// The real WebChannel client in headless Chromium against the plugin. The page
// is served by each test's own server; what crossed the wire is recorded on
// the server side (an onRequest hook) and from the page's events.
import type { ServerResponse } from 'node:http'
import t, { type Test } from 'tap'
import compress from '@fastify/compress'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import type { Page } from 'playwright-core'
import type { EndReason, WebChannelOptions } from '../lib/index.js'
import { launch, pageEvents, servePage, waitForEvents, type BrowserSession } from './helpers/browser.js'
import { startWcServer, until, type WcServer } from './helpers/wc-app.js'

interface Seen { method: string, url: string, headers: Record<string, string | string[] | undefined>, res: ServerResponse }
interface Ctx { s: WcServer, page: Page, seen: Seen[], ended: EndReason[] }

let browser: BrowserSession
t.before(async () => { browser = await launch() })
t.teardown(async () => { await browser?.close() })

async function setup (t: Test, options: WebChannelOptions = {}, routes?: (app: FastifyInstance) => void | Promise<void>, pre?: (app: FastifyInstance) => void | Promise<void>, serverOptions: FastifyServerOptions = {}): Promise<Ctx> {
  const seen: Seen[] = []
  const ended: EndReason[] = []
  const s = await startWcServer({
    ...options,
    webchannel: { keepaliveInterval: 2000, longPollTimeout: 500, ...options.webchannel },
    onSessionEnd: (_s, reason) => { ended.push(reason) },
  }, async app => {
    await servePage(app)
    app.webchannel.on('echo', (ctx, x: unknown) => { ctx.session.emit('echo', x) })
    app.webchannel.on('add', (_ctx, a: number, b: number) => a + b)
    app.webchannel.on('burst', (ctx, from: number, n: number) => { for (let i = from; i < from + n; i++) ctx.session.emit('n', i) })
    await routes?.(app)
  }, async app => {
    app.addHook('onRequest', async (request, reply) => {
      if (request.url.startsWith('/channel')) seen.push({ method: request.method, url: request.url, headers: request.headers, res: reply.raw })
    })
    await pre?.(app)
    // Chromium keeps (and pre-opens) keep-alive sockets we do not control; cut them at close.
  }, { forceCloseConnections: true, ...serverOptions })
  const page = await browser.page(s.origin)
  t.teardown(async () => {
    await page.close()
    await s.app.close()
  })
  return { s, page, seen, ended }
}

function open (page: Page, url: string, options: Record<string, unknown>, sendFirst: unknown[] = []): Promise<number> {
  return page.evaluate(({ u, o, f }) => (globalThis as unknown as { wcTest: { open (u: string, o: unknown, f: unknown[]): number } }).wcTest.open(u, o, f), { u: url, o: options, f: sendFirst })
}

function send (page: Page, id: number, msg: unknown): Promise<void> {
  return page.evaluate(({ i, m }) => (globalThis as unknown as { wcTest: { send (i: number, m: unknown): void } }).wcTest.send(i, m), { i: id, m: msg })
}

function close (page: Page, id: number): Promise<void> {
  return page.evaluate((i) => (globalThis as unknown as { wcTest: { close (i: number): void } }).wcTest.close(i), id)
}

async function messages (page: Page, id: number, n: number): Promise<unknown[]> {
  const ev = await waitForEvents(page, id, 'message', n)
  return ev.flatMap(e => e.type === 'message' ? [e.data] : [])
}

const backChannels = (seen: Seen[]) => seen.filter(r => r.method === 'GET' && r.url.includes('RID=rpc'))

t.test('Chromium, default options: streaming + gzip, request/response, unicode, terminate by beacon', async t => {
  const { page, seen, ended } = await setup(t)
  const id = await open(page, '/channel', { sendRawJson: true })
  await waitForEvents(page, id, 'open', 1)
  await send(page, id, { a: ['add', 40, 2], i: 1 })
  await send(page, id, { a: ['echo', 'héllo € 😀 日本語'] })
  t.same(await messages(page, id, 2), [{ i: 1, d: 42 }, { a: ['echo', 'héllo € 😀 日本語'] }])
  const g = backChannels(seen)
  t.match(g[0].url, /CI=0/)
  t.match(String(g[0].headers['accept-encoding']), /gzip/)
  t.equal(g[0].res.getHeader('content-encoding'), 'gzip', 'the streamed back channel is gzipped (sync-flushed per chunk)')
  await close(page, id)
  await until(() => seen.find(r => r.url.includes('TYPE=terminate')), 'the terminate beacon')
  const term = seen.find(r => r.url.includes('TYPE=terminate'))
  t.equal(term?.method, 'POST', 'sendBeacon')
  await until(() => ended.length > 0 ? true : undefined, 'session end')
  t.same(ended, ['client-close'])
})

t.test('Chromium, forceLongPolling', async t => {
  const { page, seen } = await setup(t)
  const id = await open(page, '/channel', { sendRawJson: true, forceLongPolling: true })
  await waitForEvents(page, id, 'open', 1)
  await send(page, id, { a: ['burst', 0, 20] })
  const msgs = await messages(page, id, 20)
  t.same(msgs, Array.from({ length: 20 }, (_, i) => ({ a: ['n', i] })))
  // Idle polls are answered with noop and the client keeps polling.
  await until(() => backChannels(seen).length >= 4 ? true : undefined, 'several polls')
  t.ok(backChannels(seen).every(r => /CI=1/.test(r.url)))
  await send(page, id, { a: ['echo', 'after idle'] })
  t.same((await messages(page, id, 21))[20], { a: ['echo', 'after idle'] })
})

t.test('Chromium, plain maps and httpSessionIdParam', async t => {
  const raw: unknown[] = []
  const { page, seen } = await setup(t, {}, app => {
    app.webchannel.onRaw((session, m) => { raw.push(m); session.sendRaw(JSON.stringify({ got: m })) })
  })
  const id = await open(page, '/channel', { httpSessionIdParam: 'gsessionid' })
  await waitForEvents(page, id, 'open', 1)
  await send(page, id, { hello: 'world', n: 1 })
  t.same(await messages(page, id, 1), [{ got: { hello: 'world', n: '1' } }])
  t.same(raw.map(m => ({ ...m as object })), [{ hello: 'world', n: '1' }])
  const later = seen.slice(1)
  t.ok(later.length >= 2)
  t.ok(later.every(r => /gsessionid=[A-Za-z0-9_-]{22}/.test(r.url)), 'the sticky parameter is on every later request')
})

t.test('Chromium, detectBufferingProxy stays streaming; messages sent with open() ride in the handshake', async t => {
  // gzip off: zlib's thread-pool hop can miss a 2 × loopback-RTT window on a loaded CI machine.
  const { page, seen } = await setup(t, { webchannel: { gzip: false } })
  const id = await open(page, '/channel', { sendRawJson: true, detectBufferingProxy: true }, [{ a: ['echo', 1] }, { a: ['echo', 2] }])
  t.same(await messages(page, id, 2), [{ a: ['echo', 1] }, { a: ['echo', 2] }])
  await send(page, id, { a: ['echo', 3] })
  await messages(page, id, 3)
  t.equal(seen[0].method, 'POST')
  t.notMatch(seen[0].url, /SID=/)
  t.ok(backChannels(seen).every(r => /CI=0/.test(r.url)), 'still streaming')
})

t.test('Chromium, server-initiated close and stop', async t => {
  const { s, page, seen } = await setup(t)
  const a = await open(page, '/channel', { sendRawJson: true })
  await waitForEvents(page, a, 'open', 1)
  const [sa] = s.app.webchannel.sessions.values()
  sa.close()
  const evA = await waitForEvents(page, a, 'close', 1)
  t.same(evA.map(e => e.type), ['open', 'close'], 'close: no error')
  await until(() => seen.find(r => r.url.includes('TYPE=terminate')), 'terminate after close')

  const b = await open(page, '/channel', { sendRawJson: true })
  await waitForEvents(page, b, 'open', 1)
  const sb = [...s.app.webchannel.sessions.values()].find(x => x !== sa)
  sb?.transport.close(1011, 'broken', 'error')
  const evB = await waitForEvents(page, b, 'close', 1)
  t.same(evB.map(e => e.type), ['open', 'error', 'close'], 'stop: error then close')
})

t.test('Chromium, unknown SID', async t => {
  let bogus = false
  const { page, seen } = await setup(t, {}, undefined, undefined, {
    rewriteUrl: (req) => bogus && req.method === 'POST' ? (req.url ?? '/').replace(/SID=[^&]+/, 'SID=AAAAAAAAAAAAAAAAAAAAAA') : req.url ?? '/',
  })
  const id = await open(page, '/channel', { sendRawJson: true })
  await waitForEvents(page, id, 'open', 1)
  bogus = true
  await send(page, id, { a: ['echo', 'x'] })
  const ev = await waitForEvents(page, id, 'close', 1)
  t.same(ev.map(e => e.type), ['open', 'error', 'close'])
  const post = seen.find(r => r.url.includes('SID=AAAAAAAAAAAAAAAAAAAAAA'))
  t.equal(post?.res.statusCode, 400)
  t.notOk(seen.some(r => r.url.includes('TYPE=terminate') && r.url.includes('SID=AAAA')), 'no retry of the refused request')
})

t.test('Chromium, a back channel cut mid-stream loses and duplicates nothing', async t => {
  const { page, seen } = await setup(t)
  const id = await open(page, '/channel', { sendRawJson: true })
  await waitForEvents(page, id, 'open', 1)
  await send(page, id, { a: ['burst', 0, 30] })
  await messages(page, id, 30)
  const live = backChannels(seen).at(-1)
  live?.res.socket?.destroy()
  await send(page, id, { a: ['burst', 30, 30] })
  const msgs = await messages(page, id, 60)
  t.same(msgs.map(m => (m as { a: [string, number] }).a[1]), Array.from({ length: 60 }, (_, i) => i))
  await until(() => backChannels(seen).length >= 2 ? true : undefined, 'reopened back channel')
  const ev = await pageEvents(page, id)
  t.notOk(ev.some(e => e.type === 'error'))
})

t.test('Chromium, @fastify/compress registered globally does not break the channel', async t => {
  const { page } = await setup(t, {}, undefined, async app => {
    await app.register(compress, { global: true, threshold: 0 })
  })
  const id = await open(page, '/channel', { sendRawJson: true })
  await send(page, id, { a: ['echo', 'z'.repeat(5000)] })
  t.same(await messages(page, id, 1), [{ a: ['echo', 'z'.repeat(5000)] }])
})

t.test('Chromium, cross-origin with the cors option: exposed sticky header; refused without it', async t => {
  const other = await startWcServer({ webchannel: { keepaliveInterval: 2000 } }, app => {
    app.webchannel.on('echo', (ctx, x: unknown) => { ctx.session.emit('echo', x) })
  }, undefined, { forceCloseConnections: true })
  t.teardown(() => other.app.close())
  // The page lives on one origin; the channel on another that lists it.
  const { page } = await setup(t)
  const pageOrigin = new URL(page.url()).origin
  const urls: string[] = []
  const cross = await startWcServer({ webchannel: { keepaliveInterval: 2000, cors: { origin: pageOrigin } } }, app => {
    app.webchannel.on('echo', (ctx, x: unknown) => { ctx.session.emit('echo', x) })
  }, app => {
    app.addHook('onRequest', async (request) => { urls.push(request.method + ' ' + request.url + ' origin=' + String(request.headers.origin)) })
  }, { forceCloseConnections: true })
  t.teardown(() => cross.app.close())
  const id = await open(page, cross.url, { sendRawJson: true, httpSessionIdParam: 'gsessionid' })
  await waitForEvents(page, id, 'open', 1)
  await send(page, id, { a: ['echo', 'cors'] })
  t.same(await messages(page, id, 1), [{ a: ['echo', 'cors'] }])
  t.ok(urls.filter(u => u.startsWith('POST ')).every(u => u.endsWith('origin=' + pageOrigin)), 'cross-origin requests')
  t.ok(urls.filter(u => u.startsWith('GET ') && u.includes('RID=rpc')).every(u => /gsessionid=/.test(u)), 'the exposed X-HTTP-Session-Id reached the client')
  // Without the option the other server refuses the cross-origin handshake.
  const refused = await open(page, other.url, { sendRawJson: true })
  const ev = await waitForEvents(page, refused, 'close', 1)
  t.ok(ev.some(e => e.type === 'error'))
  t.equal(other.app.webchannel.sessions.size, 0)
})
