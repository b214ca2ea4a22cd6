// docs/deployment.md shows the nginx config the deploy suite runs: same map,
// same location block (with the production read timeout and port).
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { CONNECTION_UPGRADE_MAP, recommendedLocation, roundRobin } from './helpers/nginx-conf.js'

t.test('the documented nginx block is the tested one', async t => {
  const doc = await readFile(new URL('../../docs/deployment.md', import.meta.url), 'utf8')
  const block = /```nginx\n([\s\S]*?)```/.exec(doc)?.[1]
  t.ok(block !== undefined, 'the page has an nginx block')
  const dedent = (s: string): string => s.split('\n').map(l => l.replace(/^ {4}/, '')).join('\n')
  t.ok(block?.includes(dedent(CONNECTION_UPGRADE_MAP)), 'the connection-upgrade map')
  t.ok(block?.includes(recommendedLocation('127.0.0.1:3000', '60s')), 'the location block')
})

t.test('docs/scaling.md shows the tested round-robin upstream and retry rule', async t => {
  const doc = await readFile(new URL('../../docs/scaling.md', import.meta.url), 'utf8')
  const rr = roundRobin([3000, 3001])
  const upstream = rr.upstream.replace('127.0.0.1:3000', '10.0.0.5:3000').replace('127.0.0.1:3001', '10.0.0.6:3000')
  t.ok(doc.includes(upstream), 'the upstream block')
  t.ok(doc.includes(rr.retry), 'the retry rule')
})
