// A proxy that does not forward the WebSocket upgrade: the app sees a plain
// GET on /channel/ws and answers 426. That is a failure, not a refusal, so
// the project's client in auto mode falls back to WebChannel.
import t from 'tap'
import { ALL_CLIENTS, runSetup, type ClientKind } from './helpers/run-setup.js'

const clients: ClientKind[] = [...ALL_CLIENTS.filter(k => !k.endsWith('websocket')), 'node project auto', 'chromium project auto']

t.test('nginx without the WebSocket upgrade', async t => {
  await runSetup(t, 'no-upgrade', {
    proxy: { readTimeout: '4s', noUpgrade: true },
    pauseMs: 4500,
    clients,
    transport: { 'node project auto': 'webchannel', 'chromium project auto': 'webchannel' },
  })
})
