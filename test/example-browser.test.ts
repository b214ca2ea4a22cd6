// The example chat end to end in headless Chromium: one page per transport,
// logging in, joining a room, talking both ways; a refused room; a rejected
// message; the server restarted under open pages. Keeps a screenshot in
// test/artifacts/ (ignored by git); UPDATE_DOCS_SCREENSHOT=1 also copies it to
// docs/example-app.png, the README's picture, which tests never rewrite otherwise.
import { copyFile, mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import type { Browser } from 'playwright-core'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import { buildApp } from '../example-app/app.js'
import { connect } from '../lib/client/index.js'
import type { ChatEvents } from '../example-app/events.js'
import { joinRoom, launchChromium, openChat, say, sees } from './helpers/browser-chat.js'

const artifacts = fileURLToPath(new URL('./artifacts/', import.meta.url))
const docs = fileURLToPath(new URL('../docs/', import.meta.url))

let browser: Browser
t.before(async () => { browser = await launchChromium() })
t.teardown(() => browser.close())

async function listen (port = 0): Promise<{ app: FastifyInstance, origin: string, port: number }> {
  const app = await buildApp()
  await app.listen({ host: '127.0.0.1', port })
  const p = (app.server.address() as { port: number }).port
  return { app, origin: `http://127.0.0.1:${p}`, port: p }
}

t.test('two pages, one per transport, chat both ways in one room', async t => {
  const s = await listen()
  t.teardown(() => s.app.close())
  const a = await openChat(browser, s.origin, 'websocket', 'alice')
  const b = await openChat(browser, s.origin, 'webchannel', 'bob')
  t.teardown(() => a.page.context().close())
  t.teardown(() => b.page.context().close())
  t.equal(await a.page.textContent('#transport'), 'websocket')
  t.equal(await b.page.textContent('#transport'), 'webchannel')
  t.equal(await a.page.textContent('#state'), 'open')

  await joinRoom(a.page, 'lobby')
  await joinRoom(b.page, 'lobby')
  await say(a.page, 'hello from a websocket')
  await sees(b.page, 'hello from a websocket')
  await sees(a.page, 'hello from a websocket')
  await say(b.page, 'and hello from webchannel ✓')
  await sees(a.page, 'and hello from webchannel ✓')
  t.equal(await a.page.locator('#messages li .from').last().textContent(), 'bob')

  // What crossed the wire: the same envelopes on both transports.
  t.match(a.wire.sent, [{ a: ['subscribe', 'room:lobby'] }, { a: ['chat.send', { room: 'lobby', text: 'hello from a websocket' }] }])
  t.match(b.wire.sent, [{ a: ['subscribe', 'room:lobby'] }, { a: ['chat.send', { room: 'lobby', text: 'and hello from webchannel ✓' }] }])
  t.ok(a.wire.received.some(m => (m as { c?: string }).c === 'room:lobby'), 'broadcasts arrive on channel room:lobby')
  t.match(a.wire.received.find(m => (m as { c?: string }).c === 'room:lobby'), {
    c: 'room:lobby',
    a: ['chat.message', { room: 'lobby', from: 'alice', text: 'hello from a websocket', id: String, ts: Number }],
  })

  await mkdir(artifacts, { recursive: true })
  await a.page.screenshot({ path: artifacts + 'example-app.png' })
  if (process.env.UPDATE_DOCS_SCREENSHOT === '1') {
    await mkdir(docs, { recursive: true })
    await copyFile(artifacts + 'example-app.png', docs + 'example-app.png')
  }
})

t.test('room:admins is refused to everyone but admin', async t => {
  const s = await listen()
  t.teardown(() => s.app.close())
  const bob = await openChat(browser, s.origin, 'auto', 'bob')
  const admin = await openChat(browser, s.origin, 'webchannel', 'admin')
  t.teardown(() => bob.page.context().close())
  t.teardown(() => admin.page.context().close())
  await bob.page.fill('#room', 'admins')
  await bob.page.click('#join-form button')
  await bob.page.locator('#room-error', { hasText: 'You may not join this room.' }).waitFor()
  t.equal(await bob.page.locator('#rooms li').count(), 0)
  await joinRoom(admin.page, 'admins')
  t.equal(await admin.page.textContent('#room-error'), '')
})

t.test('a too long message is rejected and the error shows next to the input', async t => {
  const s = await listen()
  t.teardown(() => s.app.close())
  const p = await openChat(browser, s.origin, 'websocket', 'carol')
  t.teardown(() => p.page.context().close())
  await joinRoom(p.page, 'lobby')
  await say(p.page, 'x'.repeat(501))
  await p.page.locator('#text-error', { hasText: 'Messages are 1 to 500 characters' }).waitFor()
  t.match(await p.page.textContent('#text-error'), /\/0\/text/)
  t.equal(await p.page.locator('#messages li').count(), 0)
  t.equal(await p.page.inputValue('#text'), 'x'.repeat(501), 'the text stays for editing')
  await say(p.page, 'x'.repeat(500))
  await p.page.locator('#messages li').first().waitFor()
  t.equal(await p.page.textContent('#text-error'), '')
})

t.test('the server restarts under open pages: they reconnect and rejoin', async t => {
  const first = await listen()
  const a = await openChat(browser, first.origin, 'websocket', 'dora')
  const b = await openChat(browser, first.origin, 'webchannel', 'emil')
  t.teardown(() => a.page.context().close())
  t.teardown(() => b.page.context().close())
  await joinRoom(a.page, 'ops')
  await joinRoom(b.page, 'ops')

  await first.app.close()
  await a.page.waitForSelector('body[data-state="reconnecting"]')
  await b.page.waitForSelector('body[data-state="reconnecting"]')
  const second = await listen(first.port)
  t.teardown(() => second.app.close())
  await a.page.waitForSelector('body[data-reconnects="1"][data-state="open"]')
  await b.page.waitForSelector('body[data-reconnects="1"][data-state="open"]')
  t.equal(await a.page.textContent('#transport'), 'websocket')
  t.equal(await b.page.textContent('#transport'), 'webchannel')
  t.equal(second.app.webchannel.to('room:ops').localCount(), 2, 'both pages rejoined room:ops on the new server')

  // A Node client on the new server reaches both pages through the restored subscriptions.
  const res = await fetch(second.origin + '/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'node' }) })
  const { token } = await res.json() as { token: string }
  const c = connect<ChatEvents>(second.origin + '/channel', { WebSocket, token })
  t.teardown(() => c.close())
  await c.subscribe('room:ops')
  await c.request('chat.send', { room: 'ops', text: 'after the restart' })
  await sees(a.page, 'after the restart')
  await sees(b.page, 'after the restart')
  await say(b.page, 'webchannel still talks')
  await sees(a.page, 'webchannel still talks')
})
