// Issue 12 point 9: the legacy BrowserChannel client (npm browserchannel's
// BCSocket) sends an object as the map {JSON: text}, i.e. `req<N>_JSON=`.
// Those maps are decoded like `__data__`: envelopes reach the event layer.
import t from 'tap'
import { parseForwardBody } from '../lib/codecs/webchannel-maps.js'
import { startApp } from './helpers/app.js'
import { request } from './helpers/wc-raw.js'
import { parseFrames } from '../lib/codecs/webchannel-framing.js'

t.test('a map whose only key is JSON is data; JSON beside other keys stays a plain map', async t => {
  const b = parseForwardBody('count=3&ofs=4&req0_JSON=%7B%22i%22%3A1%2C%22a%22%3A%5B%22echo%22%5D%7D&req1_JSON=x&req1_other=y&req2__S=hi')
  t.same(b.maps[0], { id: 4, kind: 'data', data: '{"i":1,"a":["echo"]}' })
  t.equal(b.maps[1].kind, 'map')
  t.same({ ...(b.maps[2] as { data: object }).data }, { _S: 'hi' })
})

t.test('a handshake carrying req0_JSON= is answered like __data__', async t => {
  const s = await startApp({}, app => { app.webchannel.on('echo', (_ctx, x) => x) })
  t.teardown(() => s.app.close())
  const body = 'count=1&ofs=0&req0_JSON=' + encodeURIComponent(JSON.stringify({ i: 7, a: ['echo', 'legacy'] }))
  const res = await request(s.url.replace(/\/channel$/, ''), '/channel/bind?VER=8&RID=1000&CVER=8&t=1', { body })
  t.equal(res.status, 200)
  const frames = parseFrames(res.body)
  const arrays = frames.chunks.flatMap(c => c as Array<[number, unknown]>)
  t.same(arrays.slice(1).map(a => a[1]), [{ i: 7, d: 'legacy' }], 'the echo answer rides in the handshake chunk')
})
