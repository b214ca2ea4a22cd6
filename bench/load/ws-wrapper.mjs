// ws-wrapper envelopes over a WebSocket (raw-websocket.mjs: the same client cost
// for every WebSocket server). Used for raw ws, @fastify/websocket and ours.
import { dispatchEnvelope, encodeEcho, encodeSubscribe } from './envelope.mjs'
import { RawWebSocket } from './raw-websocket.mjs'

export class WsWrapperClient {
  constructor (ws, fail) {
    this.ws = ws
    this.fail = fail
    this.closing = false
    this.onResponse = (_id, _data) => {}
    this.onTick = (_payload) => {}
    this.subscribed = () => {}
    ws.onmessage = (text) => {
      let m
      try {
        m = JSON.parse(text)
      } catch {
        return fail(`non-JSON frame: ${text.slice(0, 80)}`)
      }
      dispatchEnvelope(this, m, fail)
    }
    ws.onclose = (code) => { if (!this.closing) fail(`server closed the WebSocket (${code})`) }
    ws.start()
  }

  static async open ({ port, path }, fail) {
    return new WsWrapperClient(await RawWebSocket.open(port, path), fail)
  }

  request (id, arg) {
    this.ws.send(encodeEcho(id, arg))
  }

  subscribe () {
    return new Promise((resolve) => {
      this.subscribed = resolve
      this.ws.send(encodeSubscribe())
    })
  }

  close () {
    this.closing = true
    this.ws.terminate()
  }
}
