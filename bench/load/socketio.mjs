// socket.io v5 packets over engine.io v4, spoken directly (socket.io-client is not
// used): `40` connect, `42[…]` events, `42<id>[…]` requests and `43<id>[…]` acks,
// server ping `2` answered with pong `3`. Two carriers: a WebSocket, or HTTP
// long-polling (one GET held, one POST in flight, packets joined by \x1e).
import { RawWebSocket } from './raw-websocket.mjs'
import { request, TEXT, zx } from './http.mjs'

const SUBSCRIBE_ID = 2 ** 31 - 1
const SEP = '\x1e'

/** One engine.io packet (text) to the client's callbacks. */
function onEnginePacket (client, p) {
  const type = p.charCodeAt(0)
  if (type === 0x34) return onSocketPacket(client, p) // '4' message
  if (type === 0x32) return client.write('3') // '2' ping
  if (type === 0x36 || type === 0x30) return // '6' noop, '0' open (handled by the opener)
  if (type === 0x31) return client.fail('engine.io close packet from server')
  client.fail(`unexpected engine.io packet ${p.slice(0, 60)}`)
}

function onSocketPacket (client, p) {
  const type = p.charCodeAt(1)
  if (type === 0x30) return client.connected() // '0' CONNECT ack
  if (type === 0x34) return client.fail(`connect_error ${p.slice(2, 200)}`)
  let i = 2
  let id = -1
  while (i < p.length) {
    const c = p.charCodeAt(i)
    if (c < 0x30 || c > 0x39) break
    id = (id < 0 ? 0 : id * 10) + c - 0x30
    i++
  }
  let args
  try {
    args = JSON.parse(p.slice(i))
  } catch {
    return client.fail(`bad socket.io packet ${p.slice(0, 80)}`)
  }
  if (type === 0x32) { // '2' EVENT
    if (args[0] !== 'tick') return client.fail(`unexpected event ${p.slice(0, 80)}`)
    return client.onTick(args[1])
  }
  if (type === 0x33) { // '3' ACK
    if (id === SUBSCRIBE_ID) {
      if (args[0] !== true) return client.fail('subscribe refused')
      return client.subscribed()
    }
    return client.onResponse(id, args[0])
  }
  client.fail(`unexpected socket.io packet ${p.slice(0, 80)}`)
}

class Base {
  constructor (fail) {
    this.fail = fail
    this.onResponse = (_id, _data) => {}
    this.onTick = (_payload) => {}
    this.subscribed = () => {}
    this.connected = () => {}
  }

  request (id, arg) {
    this.write(`42${id}["echo",${JSON.stringify(arg)}]`)
  }

  subscribe () {
    return new Promise((resolve) => {
      this.subscribed = resolve
      this.write(`42${SUBSCRIBE_ID}["subscribe","bench"]`)
    })
  }
}

export class SocketIoWsClient extends Base {
  static async open ({ port }, fail) {
    const ws = await RawWebSocket.open(port, '/socket.io/?EIO=4&transport=websocket')
    const c = new SocketIoWsClient(fail)
    c.ws = ws
    c.closing = false
    const connected = new Promise((resolve) => { c.connected = resolve })
    ws.onmessage = (p) => {
      if (p.charCodeAt(0) === 0x30) ws.send('40') // engine.io open → connect the main namespace
      else onEnginePacket(c, p)
    }
    ws.onclose = (code) => { if (!c.closing) fail(`server closed the WebSocket (${code})`) }
    ws.start()
    await connected
    return c
  }

  write (packet) {
    this.ws.send(packet)
  }

  close () {
    this.closing = true
    this.ws.terminate()
  }
}

export class SocketIoPollingClient extends Base {
  static async open ({ port }, fail) {
    const c = new SocketIoPollingClient(fail)
    c.port = port
    c.queue = []
    c.posting = false
    c.scheduled = false
    const r = await request(port, 'GET', `/socket.io/?EIO=4&transport=polling&t=${zx()}`)
    if (r.status !== 200 || r.body[0] !== '0') throw new Error(`socket.io handshake: HTTP ${r.status} ${r.body.slice(0, 80)}`)
    c.sid = JSON.parse(r.body.slice(1).split(SEP)[0]).sid
    c.path = `/socket.io/?EIO=4&transport=polling&sid=${c.sid}`
    const connected = new Promise((resolve) => { c.connected = resolve })
    c.write('40')
    c.poll()
    await connected
    return c
  }

  poll () {
    if (this.closing) return
    request(this.port, 'GET', `${this.path}&t=${zx()}`).then((r) => {
      if (this.closing) return
      if (r.status !== 200) return this.fail(`socket.io poll: HTTP ${r.status} ${r.body.slice(0, 80)}`)
      const packets = r.body.split(SEP)
      for (const p of packets) onEnginePacket(this, p)
      this.poll()
    }, (err) => { if (!this.closing) this.fail(`socket.io poll: ${err.message}`) })
  }

  /** Packets written in one tick ride one POST; one POST in flight (engine.io refuses overlap). */
  write (packet) {
    this.queue.push(packet)
    if (!this.posting && !this.scheduled) {
      this.scheduled = true
      queueMicrotask(() => this.flush())
    }
  }

  flush () {
    this.scheduled = false
    if (this.posting || this.queue.length === 0 || this.closing) return
    const body = this.queue.join(SEP)
    this.queue = []
    this.posting = true
    request(this.port, 'POST', `${this.path}&t=${zx()}`, body, TEXT).then((r) => {
      if (this.closing) return
      if (r.status !== 200 || r.body !== 'ok') return this.fail(`socket.io POST: HTTP ${r.status} ${r.body.slice(0, 80)}`)
      this.posting = false
      if (this.queue.length > 0) this.flush()
    }, (err) => { if (!this.closing) this.fail(`socket.io POST: ${err.message}`) })
  }

  close () {
    this.closing = true
  }
}
