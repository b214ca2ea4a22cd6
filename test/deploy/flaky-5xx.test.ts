// A proxy that answers 503 to the first attempt of every request in a session
// (every back-channel GET and forward POST with a SID and t=1), as a load
// balancer does while a backend restarts or a pool is momentarily full.
// Closure's client treats any status but 200 as fatal; the project's client
// makes such a 5xx look like a network error, which closure retries with the
// same RID and maps, so the session and every message survive.
import t from 'tap'
import { runSetup } from './helpers/run-setup.js'

t.test('nginx answering 503 to every first attempt', async t => {
  await runSetup(t, 'flaky-5xx', {
    proxy: { readTimeout: '4s', flaky: true },
    pauseMs: 2000,
    clients: ['node project webchannel', 'chromium project webchannel'],
    check: async (t, stack) => {
      const log = await stack.nginx.accessLog()
      const refused = log.split('\n').filter(l => /SID=.*&t=1 HTTP\/1\.1" 503 /.test(l) || /SID=.*t=1[^ ]* HTTP\/[12](\.[01])?" 503 /.test(l)).length
      t.ok(refused >= 50, `the proxy answered 503 to first attempts (${refused})`)
    },
  })
})
