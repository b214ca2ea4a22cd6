// The WebChannel / BrowserChannel v8 wire (shared/webchannel-wire.md §5–§8),
// spoken directly: handshake POST, one forward POST in flight with every map
// queued behind it batched into the next, one back-channel GET held at a time.
// The back channel streams (CI=0: the GET stays open and each server flush
// arrives as one chunk, what the unmodified client does by default) or long
// polls (CI=1: one answer per GET, what forceLongPolling and buffering
// proxies give); `streaming` in the target picks.
// `key` is how a message rides in a map: `__data__` (WebChannel sendRawJson,
// ours) or `JSON` (the BCSocket client of the `browserchannel` server).
import { dispatchEnvelope, encodeEcho, encodeSubscribe } from './envelope.mjs'
import { request, stream, zx } from './http.mjs'

/** `<len>\n<json>` chunks (len in UTF-16 units) → parsed values; throws on bad framing. */
export function parseChunks (text) {
  const out = []
  let pos = 0
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos)
    if (nl === -1) throw new Error(`unterminated length prefix in ${JSON.stringify(text.slice(pos, pos + 40))}`)
    const len = Number(text.slice(pos, nl))
    if (!Number.isInteger(len) || len < 0 || nl + 1 + len > text.length) throw new Error(`bad chunk length at ${pos}`)
    out.push(JSON.parse(text.slice(nl + 1, nl + 1 + len)))
    pos = nl + 1 + len
  }
  return out
}

const MAX_MAPS = 1000

export class WebChannelClient {
  constructor (port, base, key, streaming, fail) {
    this.port = port
    this.base = base
    this.key = key
    this.streaming = streaming
    this.fail = fail
    this.onResponse = (_id, _data) => {}
    this.onTick = (_payload) => {}
    this.subscribed = () => {}
    this.queue = []
    this.posting = false
    this.scheduled = false
    this.mapId = 0
    this.aid = -1
    this.closing = false
  }

  static async open ({ port, base, key, streaming = false }, fail) {
    const c = new WebChannelClient(port, base, key, streaming, fail)
    c.rid = Math.floor(Math.random() * 100000)
    const r = await request(port, 'POST', `${base}?VER=8&RID=${c.rid}&CVER=22&zx=${zx()}&t=1`, 'count=0')
    if (r.status !== 200) throw new Error(`WebChannel handshake: HTTP ${r.status} ${r.body.slice(0, 80)}`)
    const arrays = parseChunks(r.body).flat()
    const first = arrays[0]
    if (!Array.isArray(first) || first[0] !== 0 || !Array.isArray(first[1]) || first[1][0] !== 'c' || first[1][3] !== 8) {
      throw new Error(`WebChannel handshake: no c array in ${r.body.slice(0, 120)}`)
    }
    c.sid = first[1][1]
    c.aid = 0
    for (const a of arrays.slice(1)) c.array(a)
    c.poll()
    return c
  }

  /** One server array [id, payload]: in order, once; noops swallowed, stop/close fail the run. */
  array (a) {
    const id = a[0]
    if (id <= this.aid) return // resent after a lost GET
    if (id !== this.aid + 1) return this.fail(`array id gap: ${this.aid} → ${id}`)
    this.aid = id
    let p = a[1]
    if (Array.isArray(p)) {
      if (typeof p[0] === 'string') {
        if (p[0] === 'noop') return
        return this.fail(`server sent ${JSON.stringify(p).slice(0, 80)}`)
      }
      // Google-style servers wrap each app message in a one-element array.
      if (p.length === 1) p = p[0]
    }
    if (typeof p === 'string') p = JSON.parse(p)
    dispatchEnvelope(this, p, this.fail)
  }

  poll () {
    if (this.closing) return
    if (this.streaming) return this.pollStreaming()
    const path = `${this.base}?VER=8&RID=rpc&SID=${this.sid}&AID=${this.aid}&CI=1&TYPE=xmlhttp&zx=${zx()}&t=1`
    request(this.port, 'GET', path).then((r) => {
      if (this.closing) return
      if (r.status !== 200) return this.fail(`back channel: HTTP ${r.status} ${r.body.slice(0, 80)}`)
      if (r.body === '') return this.fail('back channel: empty 200 (NO_DATA)')
      let chunks
      try {
        chunks = parseChunks(r.body)
      } catch (err) {
        return this.fail(`back channel: ${err.message}`)
      }
      for (const chunk of chunks) for (const a of chunk) this.array(a)
      this.poll()
    }, (err) => { if (!this.closing) this.fail(`back channel: ${err.message}`) })
  }

  /** CI=0: chunks are parsed as they arrive; when the server ends the GET, the next one opens at once. */
  pollStreaming () {
    const path = `${this.base}?VER=8&RID=rpc&SID=${this.sid}&AID=${this.aid}&CI=0&TYPE=xmlhttp&zx=${zx()}&t=1`
    let buf = ''
    stream(this.port, path, (text) => {
      buf += text
      let pos = 0
      for (;;) {
        const nl = buf.indexOf('\n', pos)
        if (nl === -1) break
        const len = Number(buf.slice(pos, nl))
        if (!Number.isInteger(len) || len < 0) return this.fail(`back channel: bad chunk length ${JSON.stringify(buf.slice(pos, nl).slice(0, 20))}`)
        if (nl + 1 + len > buf.length) break
        let chunk
        try {
          chunk = JSON.parse(buf.slice(nl + 1, nl + 1 + len))
        } catch (err) {
          return this.fail(`back channel: ${err.message}`)
        }
        for (const a of chunk) this.array(a)
        pos = nl + 1 + len
      }
      if (pos > 0) buf = buf.slice(pos)
    }).then((r) => {
      if (this.closing) return
      if (r.status !== 200) return this.fail(`back channel: HTTP ${r.status} ${r.body.slice(0, 80)}`)
      if (buf !== '') return this.fail(`back channel ended inside a chunk: ${JSON.stringify(buf.slice(0, 40))}`)
      this.poll()
    }, (err) => { if (!this.closing) this.fail(`back channel: ${err.message}`) })
  }

  send (json) {
    this.queue.push(json)
    if (!this.posting && !this.scheduled) {
      this.scheduled = true
      queueMicrotask(() => this.flush())
    }
  }

  flush () {
    this.scheduled = false
    if (this.posting || this.queue.length === 0 || this.closing) return
    const maps = this.queue.length > MAX_MAPS ? this.queue.splice(0, MAX_MAPS) : this.queue
    if (maps === this.queue) this.queue = []
    let body = `count=${maps.length}&ofs=${this.mapId}`
    for (let i = 0; i < maps.length; i++) body += `&req${i}_${this.key}=${encodeURIComponent(maps[i])}`
    this.mapId += maps.length
    this.posting = true
    const path = `${this.base}?VER=8&SID=${this.sid}&RID=${++this.rid}&AID=${this.aid}&zx=${zx()}&t=1`
    request(this.port, 'POST', path, body).then((r) => {
      if (this.closing) return
      if (r.status !== 200) return this.fail(`forward POST: HTTP ${r.status} ${r.body.slice(0, 80)}`)
      let reply
      try {
        reply = parseChunks(r.body)[0]
      } catch (err) {
        return this.fail(`forward POST: ${err.message}`)
      }
      if (!Array.isArray(reply) || reply.length !== 3) return this.fail(`forward POST: reply ${r.body.slice(0, 80)}`)
      this.posting = false
      if (this.queue.length > 0) this.flush()
    }, (err) => { if (!this.closing) this.fail(`forward POST: ${err.message}`) })
  }

  request (id, arg) {
    this.send(encodeEcho(id, arg))
  }

  subscribe () {
    return new Promise((resolve) => {
      this.subscribed = resolve
      this.send(encodeSubscribe())
    })
  }

  close () {
    this.closing = true
  }
}
