// A short proxy read timeout (stands for nginx's proxy_read_timeout 10s, or
// Heroku's 30 s to first byte): with the plugin's keepalive, long-poll hold,
// back-channel age and ping interval set below it (stack.ts SHORT_CHANNEL,
// scaled like the table in docs/deployment.md), sessions survive idle gaps
// longer than the timeout on both transports.
import t from 'tap'
import { runSetup } from './helpers/run-setup.js'

t.test('nginx with a 2 s read timeout and fitting server options', async t => {
  await runSetup(t, 'read-timeout', { proxy: { readTimeout: '2s' }, pauseMs: 3000 })
})
