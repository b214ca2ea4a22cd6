import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'
import { startInstance } from './helpers/instance-process.js'
import { freePort, RedisServer, until } from './helpers/redis-server.js'
import { connectWs } from './helpers/ws-client.js'

// Redis Cluster (issue 13, item 5): three masters of the Debian redis-server
// on free ports, joined with `redis-cli --cluster create`, and two app
// instances (child processes) on it through redisAdapter({ cluster }), which
// speaks sharded pub/sub (SPUBLISH/SSUBSCRIBE).

const run = promisify(execFile)

t.test('two instances deliver across a three-master Redis Cluster', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'fwc-cluster-'))
  const ports = [await freePort(), await freePort(), await freePort()]
  const nodes = ports.map(p => new RedisServer(p, ['--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${p}.conf`, '--dir', dir]))
  t.teardown(async () => {
    for (const n of nodes) await n.stop()
    await rm(dir, { recursive: true, force: true })
  })
  await Promise.all(nodes.map(n => n.start()))
  await run('redis-cli', ['--cluster', 'create', ...ports.map(p => `127.0.0.1:${p}`), '--cluster-yes'])
  await until('cluster_state:ok on every node', async () => {
    const infos = await Promise.all(ports.map(p => run('redis-cli', ['-p', String(p), 'cluster', 'info']).then(r => r.stdout)))
    return infos.every(i => i.includes('cluster_state:ok'))
  }, 20_000)

  const key = 'fwc-cluster-' + randomBytes(4).toString('hex')
  const env = { REDIS_CLUSTER: ports.map(p => `127.0.0.1:${p}`).join(','), KEY: key }
  const one = await startInstance(env)
  const two = await startInstance(env)
  t.teardown(async () => { await one.stop(); await two.stop() })
  t.match(await one.get('/admin/health'), { status: 'ok' })
  t.match(await two.get('/admin/health'), { status: 'ok' })

  const a = await connectWs(one.wsUrl)
  const b = await connectWs(two.wsUrl)
  t.teardown(() => { a.ws.close(); b.ws.close() })
  await a.wrapper.request('subscribe', 'room:c')
  await b.wrapper.request('subscribe', 'room:c')
  const heardByB: string[] = []
  b.wrapper.of('room:c').on('said', (text: string) => { heardByB.push(text) })
  const heardByA: string[] = []
  a.wrapper.of('room:c').on('said', (text: string) => { heardByA.push(text) })
  // Sharded pub/sub: the topic is a shard channel on exactly one node (its slot's owner), and no classic channel.
  const shard = await Promise.all(ports.map(p => run('redis-cli', ['-p', String(p), 'pubsub', 'shardchannels']).then(r => r.stdout.trim())))
  t.same(shard.filter(x => x === key).length, 1, 'the topic is a shard channel on one node')
  const classic = await Promise.all(ports.map(p => run('redis-cli', ['-p', String(p), 'pubsub', 'channels']).then(r => r.stdout.trim())))
  t.same(classic, ['', '', ''], 'no classic channel')
  t.equal(await a.wrapper.request('count', 'room:c'), 2, 'count() hears both instances (SHARDNUMSUB summed over the nodes)')
  for (let i = 0; i < 50; i++) await a.wrapper.request('say', 'room:c', 'a' + i)
  await b.wrapper.request('say', 'room:c', 'from-b')
  await until('b heard 50 and a heard b', () => heardByB.length >= 51 && heardByA.includes('from-b'))
  // Order is per publisher: b's own message may come between a's (it is local to b).
  t.same(heardByB.filter(x => x !== 'from-b'), Array.from({ length: 50 }, (_, i) => 'a' + i), "a's 50, in order, once, across the cluster")
  t.equal(heardByB.filter(x => x === 'from-b').length, 1)
  t.equal(heardByA.filter(x => x === 'from-b').length, 1)
  for (const i of [one, two]) t.notMatch(i.stderr() + i.stdout(), /Unhandled error event/)
})
