// One load-generator process of the scale bench (bench/scale.mjs): opens
// `count` clients from its own loopback source address (so the ephemeral port
// range is per process, not shared), subscribes them, and reports broadcasts.
// Driven over IPC; every wait is bounded and any failure exits 1 loudly.
//   node bench/load/scale-worker.mjs '{"proto":"wsw"|"wc","target":{…},"count":N,"localAddress":"127.0.0.2"}'
import { setLocalAddress } from './http.mjs'
import { RawWebSocket } from './raw-websocket.mjs'
import { WebChannelClient } from './webchannel.mjs'
import { WsWrapperClient } from './ws-wrapper.mjs'

const job = JSON.parse(process.argv[2])
const Client = job.proto === 'wc' ? WebChannelClient : WsWrapperClient
RawWebSocket.localAddress = job.localAddress
setLocalAddress(job.localAddress)

function die (message) {
  process.stderr.write(`scale worker ${job.localAddress} FAILED: ${message}\n`)
  process.exit(1)
}
const nowMs = () => Number(process.hrtime.bigint()) / 1e6
const clients = []

async function connect () {
  const t0 = nowMs()
  const deadline = Date.now() + 120_000
  let next = 0
  const worker = async () => {
    while (next < job.count) {
      if (Date.now() > deadline) die(`connecting ${job.count} took over 120 s (${next} started)`)
      next++
      try {
        clients.push(await Client.open(job.target, die))
      } catch (err) {
        die(`connect #${next}: ${err.message}`)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(job.parallel ?? 64, job.count) }, worker))
  const t1 = nowMs()
  let subscribed = 0
  await new Promise((resolve) => {
    const timer = setTimeout(() => die(`subscriptions: ${subscribed} of ${clients.length} in 60 s`), 60_000)
    for (const c of clients) {
      c.subscribe().then(() => {
        if (++subscribed === clients.length) {
          clearTimeout(timer)
          resolve()
        }
      })
    }
  })
  return { connected: clients.length, connectMs: t1 - t0, subscribeMs: nowMs() - t1 }
}

/** Resolves once every client has the broadcast with sequence `q`: the last receipt's lag. */
function broadcast (q) {
  return new Promise((resolve) => {
    let got = 0
    let last = 0
    let sentAt = 0
    const timer = setTimeout(() => die(`broadcast ${q}: ${got} of ${clients.length} received in 60 s`), 60_000)
    for (const c of clients) {
      c.onTick = (p) => {
        if (p?.q !== q) return die(`broadcast ${q}: got ${p?.q}`)
        c.onTick = (x) => die(`broadcast ${q} received twice (${x?.q})`)
        sentAt = p.t
        last = nowMs()
        if (++got === clients.length) {
          clearTimeout(timer)
          resolve({ received: got, lastMs: last - sentAt })
        }
      }
    }
  })
}

process.on('message', async (m) => {
  if (m.cmd === 'connect') process.send({ cmd: 'connect', ...(await connect()) })
  else if (m.cmd === 'arm') {
    process.send({ cmd: 'armed' })
    process.send({ cmd: 'broadcast', ...(await broadcast(m.q)) })
  } else if (m.cmd === 'exit') {
    for (const c of clients) c.close()
    process.exit(0)
  }
})
process.on('disconnect', () => process.exit(0))
setTimeout(() => die('worker exceeded 9 minutes'), 9 * 60_000).unref()
process.send({ cmd: 'ready' })
