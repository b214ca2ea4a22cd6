// A minimal RFC 6455 client over node:net: the upgrade request, masked text
// frames out, unmasked frames in (text, ping → pong, close). No extensions, no
// UTF-8 validation. It exists so that receiving is cheap and identical for every
// WebSocket server: with 2,000 subscribers in one process, a general-purpose
// client library would make the load generator, not the server, the bottleneck.
import { connect } from 'node:net'
import { randomBytes } from 'node:crypto'

const OP_CONT = 0x0
const OP_TEXT = 0x1
const OP_BINARY = 0x2
const OP_CLOSE = 0x8
const OP_PING = 0x9

export class RawWebSocket {
  /** Source address for new connections (the scale bench spreads clients over 127.0.0.2 and up). */
  static localAddress = undefined

  constructor (socket) {
    this.socket = socket
    this.mask = randomBytes(4)
    this.buf = null
    this.frag = null
    this.closed = false
    this.onmessage = (_text) => {}
    this.onclose = (_code) => {}
  }

  /** Resolves once the server answered 101 (call start() after setting handlers); rejects on any other answer. */
  static open (port, path) {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, noDelay: true, localAddress: RawWebSocket.localAddress })
      const key = randomBytes(16).toString('base64')
      let head = Buffer.alloc(0)
      const onData = (d) => {
        head = Buffer.concat([head, d])
        const end = head.indexOf('\r\n\r\n')
        if (end === -1) {
          if (head.length > 16384) reject(new Error('oversized upgrade response'))
          return
        }
        socket.off('data', onData)
        socket.off('error', reject)
        const status = head.toString('latin1', 0, head.indexOf('\r\n'))
        if (!/^HTTP\/1\.1 101 /.test(status)) {
          socket.destroy()
          return reject(new Error(`upgrade refused: ${status}`))
        }
        // Paused until the caller has set its handlers and calls start().
        socket.pause()
        const ws = new RawWebSocket(socket)
        const rest = head.subarray(end + 4)
        ws.buf = rest.length > 0 ? Buffer.from(rest) : null
        resolve(ws)
      }
      socket.on('data', onData)
      socket.on('error', reject)
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`)
    })
  }

  /** Begin delivering frames (including any that arrived with the 101). */
  start () {
    const socket = this.socket
    socket.on('data', (chunk) => this.receive(chunk))
    socket.on('close', () => {
      if (!this.closed) {
        this.closed = true
        this.onclose(1006)
      }
    })
    socket.on('error', () => {})
    if (this.buf !== null) {
      const b = this.buf
      this.buf = null
      this.receive(b)
    }
    socket.resume()
  }

  receive (chunk) {
    const b = this.buf === null ? chunk : Buffer.concat([this.buf, chunk])
    let pos = 0
    for (;;) {
      if (b.length - pos < 2) break
      const b0 = b[pos]
      const b1 = b[pos + 1]
      let len = b1 & 0x7f
      let off = pos + 2
      if (len === 126) {
        if (b.length - pos < 4) break
        len = b.readUInt16BE(pos + 2)
        off = pos + 4
      } else if (len === 127) {
        if (b.length - pos < 10) break
        len = Number(b.readBigUInt64BE(pos + 2))
        off = pos + 10
      }
      if (b1 & 0x80) return this.fail('server frame is masked')
      if (b.length - off < len) break
      this.frame(b0 & 0x80, b0 & 0x0f, b, off, off + len)
      pos = off + len
    }
    // Copy a partial frame so the chunk it came in can be freed.
    this.buf = pos === b.length ? null : pos === 0 ? b : Buffer.from(b.subarray(pos))
  }

  frame (fin, op, b, start, end) {
    if (op === OP_TEXT || op === OP_BINARY) {
      if (fin) this.onmessage(b.toString('utf8', start, end))
      else this.frag = [Buffer.from(b.subarray(start, end))]
    } else if (op === OP_CONT) {
      if (this.frag === null) return this.fail('continuation without a first frame')
      this.frag.push(Buffer.from(b.subarray(start, end)))
      if (fin) {
        const whole = Buffer.concat(this.frag)
        this.frag = null
        this.onmessage(whole.toString('utf8'))
      }
    } else if (op === OP_PING) {
      this.write(0xa, b.subarray(start, end))
    } else if (op === OP_CLOSE) {
      const code = end - start >= 2 ? b.readUInt16BE(start) : 1005
      if (!this.closed) {
        this.closed = true
        this.onclose(code)
      }
      this.socket.destroy()
    }
  }

  fail (why) {
    if (!this.closed) {
      this.closed = true
      this.onclose(`protocol error: ${why}`)
    }
    this.socket.destroy()
  }

  send (text) {
    this.write(OP_TEXT, Buffer.from(text))
  }

  write (op, payload) {
    const len = payload.length
    const headLen = len < 126 ? 6 : len < 65536 ? 8 : 14
    const frame = Buffer.allocUnsafe(headLen + len)
    frame[0] = 0x80 | op
    if (len < 126) {
      frame[1] = 0x80 | len
    } else if (len < 65536) {
      frame[1] = 0x80 | 126
      frame.writeUInt16BE(len, 2)
    } else {
      frame[1] = 0x80 | 127
      frame.writeBigUInt64BE(BigInt(len), 2)
    }
    const m = this.mask
    m.copy(frame, headLen - 4)
    for (let i = 0; i < len; i++) frame[headLen + i] = payload[i] ^ m[i & 3]
    this.socket.write(frame)
  }

  terminate () {
    this.closed = true
    this.socket.destroy()
  }
}
