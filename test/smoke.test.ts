import t from 'tap'
import { startApp } from './helpers/app.js'
import { connectWs } from './helpers/ws-client.js'

t.test('echo over ws-wrapper', async t => {
  const s = await startApp({}, app => {
    app.webchannel.on('echo', (_ctx, x) => x)
  })
  t.teardown(() => s.app.close())
  const c = await connectWs(s.wsUrl)
  t.same(await c.wrapper.request('echo', { a: 1 }), { a: 1 })
  c.ws.close()
  t.same(await c.closed, [1005, ''])
})
