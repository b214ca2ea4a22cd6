import t from 'tap'
import type { RawMessage, Session } from '../lib/index.js'
import { startApp } from './helpers/app.js'
import { connectWs } from './helpers/ws-client.js'

// The low-level API: `for await (const m of session.messages())` reads what the
// event layer does not claim, in order; breaking out or the session ending
// finishes the loop.

t.test('messages(): raw frames in order, break ends the reader, events: false sends everything raw', async t => {
  let done!: (got: RawMessage[]) => void
  const read = new Promise<RawMessage[]>(resolve => { done = resolve })
  const s = await startApp({
    events: false,
    onConnection: async (session: Session) => {
      const got: RawMessage[] = []
      for await (const m of session.messages()) {
        got.push(m)
        if (got.length === 3) break
      }
      done(got)
    },
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  c.ws.send('one')
  c.ws.send(JSON.stringify({ a: ['not', 'dispatched'] }))
  c.ws.send(Buffer.from([1, 2, 3]))
  c.ws.send('four')
  const got = await read
  t.same(got.slice(0, 2), ['one', '{"a":["not","dispatched"]}'], 'with events: false even envelopes are raw')
  t.ok(Buffer.isBuffer(got[2]) && (got[2] as Buffer).equals(Buffer.from([1, 2, 3])), 'binary frames arrive as Buffers')
  c.ws.close()
})

t.test('messages(): the loop ends when the session does, and a reader that starts late ends at once', async t => {
  let ended!: (n: number) => void
  const loopEnded = new Promise<number>(resolve => { ended = resolve })
  let late!: (n: number) => void
  const lateEnded = new Promise<number>(resolve => { late = resolve })
  const s = await startApp({
    onConnection: async (session: Session) => {
      let n = 0
      for await (const m of session.messages()) n += m === undefined ? 0 : 1
      ended(n)
      let m = 0
      for await (const x of session.messages()) m += x === undefined ? 0 : 1
      late(m)
    },
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  c.ws.send('raw 1')
  c.ws.send('raw 2')
  c.ws.close()
  t.equal(await loopEnded, 2, 'both raw messages, then the end')
  t.equal(await lateEnded, 0, 'an ended session yields nothing')
})
