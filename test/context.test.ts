import t from 'tap'
import { Type } from 'typebox'
import { startApp } from './helpers/app.js'
import { connectWs } from './helpers/ws-client.js'

// A handler's context: its AbortSignal fires on the handler's timeout and on
// the session's end; principal and log come from the session.

t.test('ctx.signal aborts on the per-event timeout; the request gets WEBCHANNEL_TIMEOUT', async t => {
  let reason: unknown = null
  const s = await startApp({ principal: () => ({ id: 'ann' }) }, app => {
    app.webchannel.on('slow', { args: [], timeout: 100 }, async (ctx) => {
      ctx.log.debug('waiting for the abort')
      await new Promise(resolve => ctx.signal.addEventListener('abort', resolve))
      reason = ctx.signal.reason
      return (ctx.principal as { id: string }).id
    })
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const err = await c.wrapper.request('slow').then(() => null, (e: { code: string }) => e)
  t.equal(err?.code, 'WEBCHANNEL_TIMEOUT')
  t.match(reason, { code: 'WEBCHANNEL_TIMEOUT' }, 'the signal carries the timeout')
  c.ws.close()
})

t.test('ctx.signal aborts when the session ends, and is aborted at once if it already has', async t => {
  let started!: () => void
  const running = new Promise<void>(resolve => { started = resolve })
  let ended!: (r: unknown) => void
  const aborted = new Promise<unknown>(resolve => { ended = resolve })
  let lateAborted: boolean | null = null
  const s = await startApp({ handlerTimeout: 0 }, app => {
    app.webchannel.on('wait', async (ctx) => {
      started()
      await new Promise(resolve => ctx.signal.addEventListener('abort', resolve))
      ended(ctx.signal.reason)
      // The session is gone: a fresh look at the signal finds it aborted.
      lateAborted = ctx.session.signal.aborted
    })
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  c.wrapper.request('wait').catch(() => {})
  await running
  c.ws.close()
  t.equal(await aborted, 'client-close', 'aborted with the end reason')
  t.equal(lateAborted, true)
})

t.test('a handler without a timeout schema option uses handlerTimeout; 0 means none', async t => {
  const s = await startApp({ handlerTimeout: 150 }, app => {
    app.webchannel.on('never', { args: [Type.String()] }, () => new Promise(() => {}))
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  const err = await c.wrapper.request('never', 'x').then(() => null, (e: { code: string }) => e)
  t.equal(err?.code, 'WEBCHANNEL_TIMEOUT')
  c.ws.close()
})
