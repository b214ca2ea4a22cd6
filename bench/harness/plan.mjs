// What is measured: the servers, the scenarios, their sizes (full and --quick),
// which figures each reports and which servers its ratios are taken against.

export const SERVERS = {
  ws: { label: 'ws (raw)', script: 'servers/ws.mjs', proto: 'wsw', target: { path: '/ws' } },
  'fastify-ws': { label: '@fastify/websocket', script: 'servers/fastify-ws.mjs', proto: 'wsw', target: { path: '/ws' } },
  'sio-ws': { label: 'socket.io (websocket)', script: 'servers/socketio.mjs', proto: 'sio-ws', target: {} },
  'ours-ws': { label: 'ours (WebSocket)', script: 'ours', proto: 'wsw', target: { path: '/channel/ws' } },
  'sio-polling': { label: 'socket.io (polling)', script: 'servers/socketio.mjs', proto: 'sio-polling', target: {} },
  // WebChannel servers are driven the way the unmodified client drives them: a
  // streaming back channel (CI=0). `-lp`: the same server with CI=1 long polls
  // (forceLongPolling, or a buffering proxy detected).
  browserchannel: { label: 'browserchannel', script: 'servers/browserchannel.mjs', proto: 'wc', target: { base: '/channel/bind', key: 'JSON', streaming: true } },
  'ours-wc': { label: 'ours (WebChannel)', script: 'ours', proto: 'wc', target: { base: '/channel', key: '__data__', streaming: true } },
  'browserchannel-lp': { label: 'browserchannel, CI=1', script: 'servers/browserchannel.mjs', proto: 'wc', target: { base: '/channel/bind', key: 'JSON', streaming: false } },
  'ours-wc-lp': { label: 'ours (WebChannel), CI=1', script: 'ours', proto: 'wc', target: { base: '/channel', key: '__data__', streaming: false } },
  // Idle memory only: a bare node:http server parking one GET per session and
  // keeping nothing else, the floor under any long-poll session.
  'parked-get': { label: 'node:http parked GET (floor)', script: 'servers/parked-get.mjs', proto: 'wc', target: { base: '/channel', key: '__data__', streaming: true } },
}
// `--patch`: the same two rows built from lib/ with a proposed patch applied.
for (const id of ['ours-ws', 'ours-wc', 'ours-wc-lp']) {
  SERVERS[`${id}+patch`] = { ...SERVERS[id], label: `${SERVERS[id].label} + patch`, script: 'ours-patched' }
}

const WS = ['ws', 'fastify-ws', 'sio-ws', 'ours-ws']
const LP = ['sio-polling', 'browserchannel', 'ours-wc', 'browserchannel-lp', 'ours-wc-lp']
// A parked CI=1 GET holds what a parked CI=0 one does: idle memory measures the streaming rows only.
const LP_IDLE = ['parked-get', 'sio-polling', 'browserchannel', 'ours-wc']

/** Figures: how each is named, its unit, and whether lower is better. */
export const METRICS = {
  p50: { label: 'p50', unit: 'ms', lower: true },
  p99: { label: 'p99', unit: 'ms', lower: true },
  rate: { label: 'rate', unit: '/s', lower: false },
  cpuPerOpUs: { label: 'server CPU/op', unit: 'µs', lower: true },
  rssPerConn: { label: 'RSS/conn', unit: 'KiB', lower: true, scale: 1 / 1024 },
  heapPerConn: { label: 'heap/conn', unit: 'KiB', lower: true, scale: 1 / 1024 },
  getsPerOp: { label: 'GETs/op', unit: 'req', lower: true },
  clientBusy: { label: 'load gen busy', unit: '%', lower: true, scale: 100 },
}

export const SCENARIOS = [
  {
    id: 'ws-echo-latency',
    title: 'Echo latency, 1 client, 1 request in flight (WebSocket)',
    kind: 'echo',
    servers: WS,
    baselines: ['ws', 'sio-ws'],
    metrics: ['p50', 'p99', 'cpuPerOpUs'],
    chart: ['p99', 'cpuPerOpUs'],
    params: { clients: 1, inflight: 1, warmMs: 500, warmRequests: 5000, durationMs: 2000 },
    quick: { clients: 1, inflight: 1, warmMs: 100, warmRequests: 500, durationMs: 500 },
    bound: 'one round trip at a time: two event-loop wake-ups and two loopback writes per request; the load generator is idle between them',
  },
  {
    id: 'ws-echo-throughput',
    title: 'Echo throughput, 100 clients × 16 in flight (WebSocket)',
    kind: 'echo',
    servers: WS,
    baselines: ['ws', 'sio-ws'],
    metrics: ['cpuPerOpUs', 'rate', 'p99', 'clientBusy'],
    chart: ['cpuPerOpUs', 'rate'],
    params: { clients: 100, inflight: 16, warmMs: 500, warmRequests: 30000, durationMs: 3000 },
    quick: { clients: 20, inflight: 8, warmMs: 200, durationMs: 800 },
    bound: 'server CPU (one core); the load generator on the other core is near saturation too, so rates are a floor and CPU/op is the figure to compare',
  },
  {
    id: 'ws-fanout',
    title: 'Fan-out, 200 messages × 100 B to 2,000 subscribers of one channel (WebSocket)',
    kind: 'fanout',
    servers: WS,
    baselines: ['ws', 'sio-ws'],
    metrics: ['cpuPerOpUs', 'rate', 'p99', 'clientBusy'],
    chart: ['cpuPerOpUs', 'p99'],
    params: { subscribers: 2000, messages: 200, size: 100, interval: 160, burst: 4 },
    quick: { subscribers: 200, messages: 40, size: 100, interval: 40, burst: 4 },
    bound: 'the emission schedule: bursts of 4 messages in one event-loop turn every 160 ms (50,000 deliveries/s offered, below what the slowest server and the load generator can take). Every message of a burst is stamped with the burst\'s emit time, so lag is the time for the whole burst to reach every subscriber, including any message that waited behind the burst\'s earlier ones. Server CPU per delivery is the primary figure; on this VM it is dominated by the write syscall per socket (loopback TCP), so writes per socket matter more than bytes',
    limitMs: 240_000,
  },
  ...[200, 2000].map(n => ({
    id: `ws-burst-${n}`,
    title: `Unpaced burst, 200 messages × 100 B emitted in one synchronous loop to ${n.toLocaleString('en-US')} subscribers (WebSocket)`,
    kind: 'fanout',
    servers: WS,
    baselines: ['ws', 'sio-ws'],
    metrics: ['p50', 'p99', 'rate', 'cpuPerOpUs', 'clientBusy'],
    chart: ['p99', 'rate'],
    params: { subscribers: n, messages: 200, size: 100, interval: 0, burst: 200, stamp: 'message' },
    quick: { subscribers: n / 10, messages: 200, size: 100, interval: 0, burst: 200, stamp: 'message' },
    bound: 'one synchronous loop of 200 emits (the app blocks the event loop for all of it); each message carries its own emit time (taken inside the loop), so lag is how long after the app emitted a message every subscriber had it: a server that holds the burst until the loop ends adds the rest of the loop to every message: the server\'s write syscalls for the burst, and the single load-generator process reading them back (see its busy column). Rate = deliveries ÷ time from the first emit to the last receipt',
    limitMs: 240_000,
  })),
  ...[200, 2000].map(n => ({
    id: `wc-burst-${n}`,
    title: `Unpaced burst, 200 messages × 100 B emitted in one synchronous loop to ${n.toLocaleString('en-US')} long-poll subscribers (raw ws as the anchor)`,
    kind: 'fanout',
    // socket.io polling with 2,000 clients drops POSTs (socket hang up) in this shape: 200 only.
    servers: n === 200 ? ['ws', 'sio-polling', 'browserchannel', 'ours-wc'] : ['ws', 'browserchannel', 'ours-wc'],
    baselines: ['ws', 'browserchannel'],
    metrics: ['p50', 'p99', 'rate', 'cpuPerOpUs', 'clientBusy'],
    chart: ['p99', 'rate'],
    params: { subscribers: n, messages: 200, size: 100, interval: 0, burst: 200, stamp: 'message' },
    quick: { subscribers: n / 10, messages: 200, size: 100, interval: 0, burst: 200, stamp: 'message' },
    bound: 'as the WebSocket burst; the long-poll rows carry the burst as chunks of a streaming GET (ours, browserchannel) or GET round trips (socket.io polling), parsed by the same single load-generator process; raw ws is the same burst over WebSocket, the anchor of the issue\'s target',
    limitMs: 240_000,
  })),
  {
    id: 'idle-memory',
    title: 'Idle memory, 5,000 open connections / sessions',
    kind: 'idle',
    servers: [...WS, ...LP_IDLE],
    baselines: ['ws', 'sio-ws'],
    metrics: ['rssPerConn', 'heapPerConn'],
    chart: ['rssPerConn'],
    params: { connections: 5000, settleMs: 500 },
    quick: { connections: 500, settleMs: 300 },
    bound: 'per-connection state in the server: the HTTP/WebSocket objects and socket buffers (RSS), session objects (heap). Long-poll sessions also hold one parked GET each: the node:http parked-GET row is that alone, with no session state, the floor for any long-poll server in Node',
    limitMs: 240_000,
  },
  {
    id: 'lp-echo-latency',
    title: 'Echo latency, 1 client, 1 request in flight (long-poll)',
    kind: 'echo',
    servers: LP,
    baselines: ['sio-polling', 'browserchannel'],
    metrics: ['p50', 'p99', 'cpuPerOpUs'],
    chart: ['p99'],
    params: { clients: 1, inflight: 1, warmMs: 500, warmRequests: 3000, durationMs: 2000 },
    quick: { clients: 1, inflight: 1, warmMs: 100, warmRequests: 300, durationMs: 500 },
    bound: 'one forward POST per request, and its answer on the back channel: written to the open stream (CI=0) or answered and re-issued (CI=1 rows)',
  },
  {
    id: 'lp-echo-throughput',
    title: 'Echo throughput, 50 clients × 16 in flight (long-poll)',
    kind: 'echo',
    servers: LP,
    baselines: ['sio-polling', 'browserchannel'],
    metrics: ['rate', 'cpuPerOpUs', 'p99', 'getsPerOp', 'clientBusy'],
    chart: ['rate', 'cpuPerOpUs'],
    params: { clients: 50, inflight: 16, warmMs: 500, warmRequests: 20000, durationMs: 3000 },
    quick: { clients: 10, inflight: 8, warmMs: 200, durationMs: 800 },
    bound: 'the load generator (one core, near 100 % busy for the fast servers: see its column, rates at that ceiling tie) and HTTP handling on both sides: one forward POST in flight per client, batching what queues behind it; answers as chunks on the open back channel (CI=0) or one GET per batch (CI=1 rows, socket.io polling)',
  },
  {
    id: 'lp-fanout',
    title: 'Fan-out, 200 messages × 100 B to 200 long-poll subscribers',
    kind: 'fanout',
    servers: LP,
    baselines: ['sio-polling', 'browserchannel'],
    metrics: ['rate', 'p99', 'cpuPerOpUs', 'clientBusy'],
    chart: ['rate', 'p99'],
    params: { subscribers: 200, messages: 200, size: 100, interval: 20, burst: 4 },
    quick: { subscribers: 50, messages: 40, size: 100, interval: 20, burst: 4 },
    bound: 'the emission schedule (bursts of 4 messages every 20 ms: 40,000 deliveries/s offered); then, for polling servers (socket.io polling, CI=1 rows), one GET round trip per batch per subscriber; a streaming back channel (CI=0) takes each flush as one chunk',
    limitMs: 240_000,
  },
]
