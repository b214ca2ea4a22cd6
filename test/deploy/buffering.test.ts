// A proxy that buffers responses whatever the app says (proxy_buffering on,
// X-Accel-Buffering ignored). Streaming back channels show nothing until a
// buffer fills; closure's buffering-proxy detection (on by default in the
// project's client) switches to long polls (CI=1), with nothing lost.
import t from 'tap'
import { openChannel } from '../helpers/wc-node-client.js'
import { connect } from '../../lib/client/index.js'
import { runProject, text, urlParams } from './helpers/exchange.js'
import { runSetup } from './helpers/run-setup.js'
import { login, SHORT_CHANNEL } from './helpers/stack.js'

// Why raw closure clients miss the buffering about one run in two here, and
// why no server change fixes it (docs/deployment.md, Buffering): closure arms
// its detection timer at 4 × the handshake RTT it measured (send to handling
// the answer, the client's event-loop delay included) on each streaming back
// channel, and the same request has closure's watchdog at 1.5 × c[5], the
// server's keepaliveInterval: 1.5 s with SHORT_CHANNEL. Nothing passes the
// proxy to reset the watchdog, so when 4 × RTT >= 1.5 s (RTT >= 375 ms, which
// 7 clients and Chromium on 2 loaded cores reach) the watchdog fails each
// stream first, the timer is cleared with it, every retry loses the same race,
// and closure ends the channel after three back-channel retries. Reproduced
// with a stream-holding proxy and the handshake answer delayed: 200 ms
// switched to CI=1, 300 ms and more never did. Here, 7 runs at load average
// ~11: closure in Node passed 4, in Chromium 5, both 3. The server cannot shorten the
// RTT closure measures; anything it lets through early (ending a stream,
// filling the buffer) makes closure decide there is no proxy. So these stay
// todo: they pass or fail on the machine's load, not on the server.
const CLOSURE_MISSES = 'closure\'s detectBufferingProxy loses its race with its own back-channel watchdog when the handshake RTT it measured is >= 1.5/4 of the keepalive (375 ms here), as under load; the channel then dies after its back-channel retries (the project\'s client backs it up with its own stream watch)'

t.test('nginx with proxy_buffering on', async t => {
  await runSetup(t, 'buffering', {
    proxy: { readTimeout: '4s', buffering: true },
    // A stream that ends every 1.5 s would flush the proxy's buffer each time and hide the problem.
    app: { channel: { ...SHORT_CHANNEL, webchannel: { ...SHORT_CHANNEL.webchannel, backChannelMaxAge: 60_000 } } },
    pauseMs: 4500,
    todo: {
      'node closure': CLOSURE_MISSES,
      'chromium closure': CLOSURE_MISSES,
    },
    check: async (t, stack) => {
      // The proxy does buffer: closure's client without detection gets no answer while it streams.
      const token = await login(stack.origin, 'nodetect')
      const ch = openChannel(stack.origin + '/channel', { sendRawJson: true, messageUrlParams: urlParams(token) })
      t.teardown(() => ch.close())
      await ch.opened()
      ch.send({ i: 1, a: ['echo', 'buffered?'] })
      const answer = await ch.waitForMessages(1, 2500).then(() => 'answered', () => 'nothing')
      t.equal(answer, 'nothing', 'a streaming back channel shows nothing through this proxy within 2.5 s')
      // The project's client without closure's detection: its own stream watch alone recovers.
      const watched = connect(stack.origin + '/channel', { transport: 'webchannel', token, webchannel: { detectBufferingProxy: false } })
      const out = await runProject(watched, { room: 'watch-only', count: 20, gapMs: 20, pauseMs: 0, deadlineMs: 15_000 })
      watched.close()
      t.same(out.received, Array.from({ length: 20 }, (_, i) => text('watch-only', i)), 'the stream watch alone: every message, once, in order')
      t.same(out.problems, [], 'the stream watch alone: no error or reconnect')
      // The clients above were answered because they moved to long polls.
      const log = await stack.nginx.accessLog()
      t.ok(/[?&]CI=1[& ]/.test(log), 'back channels switched to CI=1')
    },
  })
})
