import type { Hub } from '../hub/hub.js'
import type { Meter } from '../session/meter.js'

// Prometheus metrics through prom-client, which is what Fastify apps already
// scrape (fastify-metrics registers Fastify's own metrics in prom-client's
// default registry). Values are read from the hub's counters at scrape time,
// so nothing on the message path touches prom-client.

interface PromRegistry { metrics (): Promise<string>, registerMetric (m: unknown): void }

/** Renders this plugin's metrics as Prometheus text. */
export type MetricsText = () => Promise<string>

const HANDLER_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export async function registerMetrics (hub: Hub, meter: Meter, option: true | { registry?: unknown }): Promise<MetricsText> {
  const prom = await import('prom-client')
  const own = new prom.Registry()
  const shared = (option === true ? prom.register : option.registry ?? prom.register) as unknown as PromRegistry
  const registries = [own as unknown as PromRegistry, shared]
  const add = <M>(m: M): M => {
    for (const r of registries) r.registerMetric(m)
    return m
  }
  const settable = (name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, v: number) => void) => void) =>
    add(new prom.Gauge({
      name,
      help,
      labelNames,
      registers: [],
      collect () {
        this.reset()
        read((labels, v) => this.set(labels, v))
      },
    }))
  describeCounters(settable, hub, meter)
  const handled = add(new prom.Histogram({
    name: 'webchannel_handler_duration_seconds',
    help: 'Time from dispatch to the end of the handler, by event and outcome.',
    labelNames: ['event', 'outcome'],
    buckets: HANDLER_BUCKETS,
    registers: [],
  }))
  hub.router.timing = (event, ms, ok) => handled.observe({ event, outcome: ok ? 'ok' : 'error' }, ms / 1000)
  return () => own.metrics()
}

type Settable = (name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, v: number) => void) => void) => unknown

const kinds = ['websocket', 'webchannel'] as const

/** Every counter and gauge, each read from the hub when scraped. */
function describeCounters (settable: Settable, hub: Hub, meter: Meter): void {
  settable('webchannel_sessions', 'Sessions open now, by transport.', ['transport'], set => {
    const s = hub.stats().sessions
    for (const k of kinds) set({ transport: k }, s[k])
  })
  settable('webchannel_sessions_opened_total', 'Sessions opened, by transport.', ['transport'], set => {
    for (const k of kinds) set({ transport: k }, meter.opened[k])
  })
  settable('webchannel_sessions_ended_total', 'Sessions ended, by transport and reason.', ['transport', 'reason'], set => {
    for (const k of kinds) for (const [reason, n] of Object.entries(meter.ended[k])) set({ transport: k, reason }, n ?? 0)
  })
  settable('webchannel_messages_received_total', 'Inbound messages, by transport.', ['transport'], set => {
    for (const k of kinds) set({ transport: k }, meter.messagesIn[k])
  })
  settable('webchannel_received_chars_total', 'Characters of inbound JSON text, by transport.', ['transport'], set => {
    for (const k of kinds) set({ transport: k }, meter.charsIn[k])
  })
  settable('webchannel_messages_sent_total', 'Outbound messages handed to a transport, by transport.', ['transport'], set => {
    for (const k of kinds) set({ transport: k }, meter.messagesOut[k])
  })
  settable('webchannel_sent_chars_total', 'Characters of outbound JSON text (bytes of binary frames), by transport.', ['transport'], set => {
    for (const k of kinds) set({ transport: k }, meter.charsOut[k])
  })
  settable('webchannel_messages_dropped_total', 'Messages not delivered, by reason.', ['reason'], set => {
    for (const [reason, n] of Object.entries(meter.dropped)) set({ reason }, n)
  })
  settable('webchannel_rate_limited_total', 'Refusals of the built-in rate limits, by limit.', ['limit'], set => {
    for (const [limit, n] of Object.entries(hub.limits.counts)) set({ limit }, n)
  })
  settable('webchannel_adapter_connected', 'Whether the adapter is connected to its bus (1) or degraded, buffering (0).', [], set => {
    set({}, hub.health().adapter.connected ? 1 : 0)
  })
  settable('webchannel_adapter_buffered', 'Cross-instance messages (and their bytes) waiting for the bus.', ['unit'], set => {
    const a = hub.health().adapter
    set({ unit: 'messages' }, a.buffered)
    set({ unit: 'bytes' }, a.bufferedBytes)
  })
  settable('webchannel_adapter_dropped_total', 'Cross-instance messages given up, by reason (count, bytes, age, failed, closed).', ['reason'], set => {
    for (const [reason, n] of Object.entries(hub.health().adapter.droppedBy)) set({ reason }, n ?? 0)
  })
  settable('webchannel_queued_bytes', 'Bytes queued for peers and not yet taken or acknowledged: sum and max over sessions, by transport.', ['transport', 'stat'], set => {
    const sum = { websocket: 0, webchannel: 0 }
    const max = { websocket: 0, webchannel: 0 }
    for (const s of hub.inspect()) {
      sum[s.transport] += s.queuedBytes
      max[s.transport] = Math.max(max[s.transport], s.queuedBytes)
    }
    for (const k of kinds) {
      set({ transport: k, stat: 'sum' }, sum[k])
      set({ transport: k, stat: 'max' }, max[k])
    }
  })
}
