// TLS with HTTP/2 towards the browser (nginx terminates; the app stays on
// HTTP/1.1), with a throwaway self-signed certificate made by openssl.
import t from 'tap'

// Node's fetch (login, and the project's client without an XHR) must accept the throwaway certificate.
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0'
import { runSetup } from './helpers/run-setup.js'

t.test('nginx terminating TLS with HTTP/2', async t => {
  await runSetup(t, 'http2', {
    proxy: { readTimeout: '4s', tls: true },
    pauseMs: 4500,
    check: async (t, _stack, page) => {
      const protocol = await page.evaluate(() => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol)
      t.equal(protocol, 'h2', 'Chromium spoke HTTP/2 to the proxy')
    },
  })
})
