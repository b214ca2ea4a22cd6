import { Writable } from 'node:stream'
import Fastify from 'fastify'
import t, { type Test } from 'tap'
import webchannel from '../lib/index.js'
import { handshake, request } from './helpers/wc-raw.js'
import { connectWs } from './helpers/ws-client.js'

// Tokens and session ids travel in URLs (the WebChannel client puts the SID in
// every one): the plugin's routes log them redacted, and a session's log lines
// carry its short id.

async function logged (t: Test) {
  const lines: Array<Record<string, any>> = []
  const stream = new Writable({
    write (chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l))
      done()
    },
  })
  const app = Fastify({ logger: { level: 'info', stream } })
  await app.register(webchannel)
  app.webchannel.on('boom', () => { throw new Error('handler broke') })
  await app.listen({ host: '127.0.0.1', port: 0 })
  t.teardown(() => app.close())
  const origin = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  return { app, origin, lines, text: () => JSON.stringify(lines) }
}

t.test('tokens and SIDs in URLs are redacted in the request logs of both transports', async t => {
  const { origin, lines, text } = await logged(t)
  const { sid } = await handshake(origin, '/channel', 'count=0')
  await request(origin, `/channel?VER=8&RID=2&SID=${sid}&AID=0&token=s3cr3t-wc&zx=1`, { body: 'count=0' })
  const ws = await connectWs(`${origin.replace('http', 'ws')}/channel/ws?token=s3cr3t-ws`)
  ws.ws.close()
  await ws.closed
  const incoming = lines.filter(l => l.msg === 'incoming request').map(l => l.req.url as string)
  t.ok(incoming.some(u => u.includes('SID=[redacted]')), 'the SID is logged redacted')
  t.ok(incoming.some(u => u.includes('token=[redacted]')), 'the token too')
  t.notMatch(text(), /s3cr3t/, 'no token anywhere in the log')
  t.notMatch(text(), new RegExp(sid), 'no full SID anywhere in the log')
})

t.test("a session's log lines carry its short id", async t => {
  const { origin, lines } = await logged(t)
  const c = await connectWs(`${origin.replace('http', 'ws')}/channel/ws`)
  await c.wrapper.request('boom').catch(() => {})
  const failed = lines.find(l => l.msg === 'webchannel: handler failed')
  t.ok(failed !== undefined)
  t.equal(typeof failed?.session, 'string')
  t.equal(failed?.session.length, 8)
  c.ws.close()
})
