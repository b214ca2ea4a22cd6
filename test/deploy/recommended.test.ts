// The recommended nginx config (docs/deployment.md), every client, both transports.
import t from 'tap'
import { runSetup } from './helpers/run-setup.js'

t.test('recommended nginx config', async t => {
  await runSetup(t, 'recommended', { proxy: { readTimeout: '4s' }, pauseMs: 4500 })
})
