// Type-level checks (run by `tsc --noEmit`): events typed from the server's
// TypeBox schemas, lifecycle listeners typed, unknown names refused on a typed
// client. At run time only the untyped defaults are exercised.
import t from 'tap'
import { Type } from 'typebox'
import { connect, defineEvents, type ClientError, type CloseInfo, type OpenInfo, type TransportKind } from '../lib/client/index.js'

const events = defineEvents({
  'chat.send': { args: [Type.Object({ room: Type.String(), text: Type.String() })], response: Type.Object({ id: Type.String(), ts: Type.Number() }) },
  'chat.message': { args: [Type.Object({ from: Type.String(), text: Type.String() })] },
  whoami: { args: [], response: Type.String() },
  loose: {},
})

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
function expectType<T extends true> (_ok: T): void {}
function use (..._values: unknown[]): void {}

async function typed (): Promise<void> {
  const c = connect<typeof events>('http://127.0.0.1:1/channel', { reconnect: false })
  const sent = await c.request('chat.send', { room: 'r', text: 't' })
  expectType<Equal<typeof sent, { id: string, ts: number }>>(true)
  const me = await c.requestWith({ timeout: 10 }, 'whoami')
  expectType<Equal<typeof me, string>>(true)
  const anything = await c.request('loose', 1, 'two')
  expectType<Equal<typeof anything, unknown>>(true)
  use(events, sent, me, anything)
  // @ts-expect-error missing text
  c.request('chat.send', { room: 'r' }).catch(use)
  // @ts-expect-error not declared
  c.request('chat.sned', {}).catch(use)
  // @ts-expect-error whoami takes no arguments
  c.request('whoami', 1).catch(use)
  c.of('room:a').on('chat.message', (m) => {
    expectType<Equal<typeof m, { from: string, text: string }>>(true)
  })
  c.on('open', (info) => { expectType<Equal<typeof info, OpenInfo>>(true) })
  c.on('close', (info) => { expectType<Equal<typeof info, CloseInfo>>(true) })
  c.on('error', (err) => { expectType<Equal<typeof err, ClientError>>(true) })
  c.on('transport', ({ transport }) => { expectType<Equal<typeof transport, TransportKind>>(true) })
  c.close()
}

t.test('untyped client: any event name, unknown payloads', async t => {
  const c = connect('http://127.0.0.1:1/channel', { reconnect: false, transport: 'websocket' })
  const p = c.request('anything', 1, { two: 2 })
  expectType<Equal<typeof p, Promise<unknown>>>(true)
  c.on('whatever', (...args) => { expectType<Equal<typeof args, unknown[]>>(true) })
  c.close()
  t.equal(((await p.catch((e: unknown) => e)) as ClientError).code, 'WEBCHANNEL_CLIENT_CLOSED')
})

t.test('typed client at run time: a request on a client that cannot connect rejects with a ClientError', async t => {
  // Runs the typed checks' code too, so it is exercised, not only compiled.
  const err = await typed().then(() => null, (e: unknown) => e)
  t.ok(err instanceof Error, 'rejected with an Error')
  t.match((err as ClientError).code, /^WEBCHANNEL_/, `a coded ClientError (${(err as ClientError).code})`)
})
