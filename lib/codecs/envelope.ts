// The ws-wrapper message envelope: one JSON object per message, on every transport.
//   event    {"a":[name, ...args], "c"?: channel}
//   request  {"a":[name, ...args], "c"?: channel, "i": id}
//   resolve  {"i": id, "d": data}
//   reject   {"i": id, "e": {message, ...}, "_": 1}
// Pure functions only: no sockets, no timers.

export type Inbound =
  | { kind: 'event', channel: string | null, name: string, args: unknown[] }
  | { kind: 'request', channel: string | null, name: string, args: unknown[], id: number }
  | { kind: 'bad-request', channel: string | null, name: string, id: unknown }
  | { kind: 'resolve', id: number, data: unknown }
  | { kind: 'reject', id: number, error: unknown }
  | { kind: 'ignored' }

const IGNORED: Inbound = { kind: 'ignored' }

/** Parse an already-decoded JSON value into an envelope (never throws). */
export function decodeEnvelope (msg: unknown): Inbound {
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) return IGNORED
  const m = msg as Record<string, unknown>
  // Frames for other libraries sharing the socket opt out this way.
  if (m['ws-wrapper'] === false) return IGNORED
  const a = m.a
  if (Array.isArray(a)) {
    if (a.length < 1 || typeof a[0] !== 'string') return IGNORED
    const c = m.c
    if (c !== undefined && c !== null && typeof c !== 'string') return IGNORED
    const channel = typeof c === 'string' && c !== '' ? c : null
    const name = a[0]
    const args = a.slice(1)
    if (m.i === undefined || m.i === null) return { kind: 'event', channel, name, args }
    if (!isRequestId(m.i)) return { kind: 'bad-request', channel, name, id: m.i }
    return { kind: 'request', channel, name, args, id: m.i }
  }
  if (isRequestId(m.i)) {
    if (m.e !== undefined) return { kind: 'reject', id: m.i, error: m.e }
    return { kind: 'resolve', id: m.i, data: m.d }
  }
  return IGNORED
}

/** Parse a text frame (never throws: non-JSON is ignored, as ws-wrapper does). */
export function parseEnvelope (text: string): Inbound {
  let msg: unknown
  try {
    msg = JSON.parse(text)
  } catch {
    return IGNORED
  }
  return decodeEnvelope(msg)
}

/** Request ids are positive safe integers (ws-wrapper counts up from 1). */
export function isRequestId (id: unknown): id is number {
  return typeof id === 'number' && Number.isSafeInteger(id) && id > 0
}

export function encodeEvent (channel: string | null, name: string, args: readonly unknown[]): string {
  const a = [name, ...args]
  return channel === null ? JSON.stringify({ a }) : JSON.stringify({ c: channel, a })
}

export function encodeRequest (channel: string | null, name: string, args: readonly unknown[], id: number): string {
  const a = [name, ...args]
  return channel === null ? JSON.stringify({ i: id, a }) : JSON.stringify({ i: id, c: channel, a })
}

export function encodeResolve (id: number, data: unknown): string {
  // Spliced rather than stringified as {i, d}: one object less per answer.
  // undefined (and functions) have no JSON: the answer then carries no "d".
  const d = JSON.stringify(data)
  return d === undefined ? '{"i":' + id + '}' : '{"i":' + id + ',"d":' + d + '}'
}

export interface WireErrorBody {
  message: string
  code: string
  [key: string]: unknown
}

export function encodeReject (id: number, error: WireErrorBody): string {
  return JSON.stringify({ i: id, e: error, _: 1 })
}
