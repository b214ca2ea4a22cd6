// WebSocket resume on the wire, with a raw `ws` client: a session survives a
// dropped socket for `websocket.resume.window`; the client comes back with its
// session id and the number of messages it received, and gets what it missed,
// in order, once. Outside the window, past the byte bound, for another
// principal or after a clean close, it gets a fresh session and is told so.
import { once } from 'node:events'
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import type { EndReason, Session, WebChannelOptions } from '../lib/index.js'
import { startApp, type Started } from './helpers/app.js'

interface Frames { ws: WebSocket, frames: any[], next: () => Promise<any> }

/** A raw socket that keeps every text frame, parsed, in order. */
async function open (url: string, headers: Record<string, string> = {}): Promise<Frames> {
  const ws = new WebSocket(url, { headers })
  const frames: any[] = []
  const waiters: Array<(f: any) => void> = []
  let read = 0
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()))
    waiters.shift()?.(frames[read++])
  })
  await once(ws, 'open')
  return {
    ws,
    frames,
    next: () => read < frames.length ? Promise.resolve(frames[read++]) : new Promise(resolve => waiters.push(resolve)),
  }
}

interface App extends Started { sessions: Session[], ended: Array<{ id: string, reason: EndReason }>, endedOnce: () => Promise<void> }

async function app (t: Test, options: WebChannelOptions = {}): Promise<App> {
  const sessions: Session[] = []
  const ended: App['ended'] = []
  let onEnd: (() => void) | null = null
  const s = await startApp({
    ...options,
    onConnection: (session) => {
      sessions.push(session)
      for (let i = 1; i <= 3; i++) session.emit('m', i)
    },
    onSessionEnd: (session, reason) => { ended.push({ id: session.id, reason }); onEnd?.() },
  }, undefined, (a) => {
    a.addHook('onRequest', async (req) => { (req as unknown as { user?: string }).user = req.headers['x-user'] as string | undefined })
  })
  t.teardown(() => s.app.close())
  return { ...s, sessions, ended, endedOnce: () => new Promise<void>(resolve => { onEnd = resolve }) }
}

const payloads = (frames: any[]): unknown[] => frames.filter(f => f.a[0] === 'm').map(f => f.a[1])

t.test('a dropped socket resumes: the missed messages once, in order, on the same session', async t => {
  const s = await app(t)
  const c = await open(s.wsUrl + '?resume=1')
  const hello = await c.next()
  t.same(hello.a[0], 'webchannel.session', 'the first frame is the hello')
  t.equal(hello.a[1].resumed, false)
  const id = hello.a[1].id as string
  t.equal(id, s.sessions[0].id, 'it names the session')
  for (let i = 0; i < 3; i++) await c.next()
  c.ws.send(JSON.stringify({ a: ['webchannel.ack', 2] }))
  // Cut without a close frame: the server sees 1006.
  c.ws.terminate()
  // Sent whether or not the server has seen the drop yet: kept until acknowledged either way.
  for (let i = 4; i <= 5; i++) s.app.webchannel.toSession(id).emit('m', i)
  const back = await open(`${s.wsUrl}?resume=${id}&seq=3`)
  const hello2 = await back.next()
  t.same(hello2.a[1], { id, resumed: true, received: 0 }, 'resumed, same id (none of its messages counted: acknowledgements are not)')
  t.same(payloads([await back.next(), await back.next()]), [4, 5], 'what it missed')
  s.app.webchannel.toSession(id).emit('m', 6)
  t.same(payloads([await back.next()]), [6], 'and then what comes next')
  t.equal(s.sessions.length, 1, 'onConnection ran once')
  t.same(s.ended, [], 'the session never ended')
  back.ws.close(1000)
})

t.test('a client that saw less than was acknowledged-and-forgotten, or more than was sent, starts afresh', async t => {
  const s = await app(t)
  const c = await open(s.wsUrl + '?resume=1')
  const id = (await c.next()).a[1].id
  for (let i = 0; i < 3; i++) await c.next()
  c.ws.send(JSON.stringify({ a: ['webchannel.ack', 3] }))
  c.ws.terminate()
  const behind = await open(`${s.wsUrl}?resume=${id}&seq=1`)
  t.equal((await behind.next()).a[1].resumed, false, 'seq behind what it acknowledged (forgotten): fresh session')
  behind.ws.close(1000)
  const ahead = await open(`${s.wsUrl}?resume=${id}&seq=9`)
  const h = (await ahead.next()).a[1]
  t.equal(h.resumed, false, 'seq ahead of what was sent: fresh session')
  t.not(h.id, id)
  ahead.ws.close(1000)
})

t.test('outside the window the session has ended: a fresh one, told so', async t => {
  const s = await app(t, { websocket: { resume: { window: 200 } } })
  const c = await open(s.wsUrl + '?resume=1')
  const id = (await c.next()).a[1].id
  const ended = s.endedOnce()
  c.ws.terminate()
  await ended
  t.same(s.ended, [{ id, reason: 'timeout' }], 'ended as timeout after the window')
  const back = await open(`${s.wsUrl}?resume=${id}&seq=3`)
  const h = (await back.next()).a[1]
  t.equal(h.resumed, false)
  t.not(h.id, id, 'a new session')
  t.same(payloads([await back.next()]), [1], 'whose onConnection ran')
  back.ws.close(1000)
})

t.test('past maxBytes while away, the missed messages cannot be replayed: fresh session', async t => {
  const s = await app(t, { websocket: { resume: { maxBytes: 200 } } })
  const c = await open(s.wsUrl + '?resume=1')
  const id = (await c.next()).a[1].id
  for (let i = 0; i < 3; i++) await c.next()
  c.ws.terminate()
  await new Promise(resolve => c.ws.once('close', resolve))
  for (let i = 0; i < 20; i++) s.app.webchannel.toSession(id).emit('m', 'x'.repeat(50))
  const back = await open(`${s.wsUrl}?resume=${id}&seq=3`)
  t.equal((await back.next()).a[1].resumed, false)
  back.ws.close(1000)
})

t.test('a clean close ends the session at once; another principal cannot resume', async t => {
  const s = await app(t)
  const c = await open(s.wsUrl + '?resume=1', { 'x-user': 'alice' })
  const id = (await c.next()).a[1].id
  const mallory = await open(`${s.wsUrl}?resume=${id}&seq=0`, { 'x-user': 'mallory' })
  const h = (await mallory.next()).a[1]
  t.equal(h.resumed, false, 'mallory gets a session of her own')
  t.not(h.id, id)
  mallory.ws.close(1000)
  const ended = s.endedOnce()
  c.ws.close(1000)
  await ended
  t.same(s.ended.find(e => e.id === id), { id, reason: 'client-close' }, 'alice said goodbye: ended')
})

t.test('a plain ws-wrapper client (no resume parameter) gets no hello', async t => {
  const s = await app(t)
  const c = await open(s.wsUrl)
  t.same(payloads([await c.next()]), [1], 'the first frame is the app\'s')
  c.ws.close(1000)
})
