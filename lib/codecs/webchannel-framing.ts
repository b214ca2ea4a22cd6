// WebChannel v8 response framing: every body the client parses is a series of
// `<len>\n<json>` chunks, and each back-channel chunk is an array of arrays
// `[[id,payload],…]`. Pure functions over strings: no sockets, no timers.

/** One server array: its id and its payload, already JSON text. */
export interface WireArray {
  readonly id: number
  readonly payload: string
}

// The client slices `Number(prefix)` characters of the decoded text, so the
// prefix is the JS string length (UTF-16 units), not the UTF-8 byte count.
export function frame (json: string): string {
  return `${json.length}\n${json}`
}

/** `[[id,payload],…]`: payloads are spliced in as they are (never re-stringified). */
export function encodeArrays (arrays: readonly WireArray[]): string {
  let out = '['
  for (let i = 0; i < arrays.length; i++) {
    const a = arrays[i]
    out += (i === 0 ? '[' : ',[') + a.id + ',' + a.payload + ']'
  }
  return out + ']'
}

/** The framed chunk for some arrays. */
export function frameArrays (arrays: readonly WireArray[]): string {
  return frame(encodeArrays(arrays))
}

// Older BrowserChannel clients evaluated chunks as script, where raw U+2028 and
// U+2029 end a line inside a string literal; node-browserchannel escapes them too.
const LINE_SEPARATORS = /[\u2028\u2029]/g
const HAS_LINE_SEPARATOR = /[\u2028\u2029]/
const NON_ASCII = /[\u007f-\uffff]/g

export function escapeLineSeparators (json: string): string {
  return HAS_LINE_SEPARATOR.test(json)
    ? json.replace(LINE_SEPARATORS, c => c === '\u2028' ? '\\u2028' : '\\u2029')
    : json
}

/**
 * ASCII-only JSON: every code unit above 0x7E as `\uXXXX`. Valid because
 * outside string literals JSON is ASCII already. Used for HTTP header values
 * (X-HTTP-Initial-Response), which must be Latin-1.
 */
export function asciiJson (json: string): string {
  NON_ASCII.lastIndex = 0
  if (!NON_ASCII.test(json)) return json
  return json.replace(NON_ASCII, c => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0'))
}

/**
 * Make a message's text safe to splice into an array: envelopes are JSON
 * already; any other raw text (session.sendRaw) that is not JSON is sent as a
 * JSON string, so one bad message cannot corrupt the whole chunk (which the
 * client would retry forever as BAD_DATA).
 */
export function toPayload (text: string): string {
  return escapeLineSeparators(text.length > 0 && isJson(text) ? text : JSON.stringify(text))
}

function isJson (text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/** A parsed chunk stream: the JSON values seen so far and the unread tail. */
export interface ParsedFrames {
  chunks: unknown[]
  rest: string
  /** Set when the stream is malformed (non-numeric prefix or bad JSON): BAD_DATA for the client. */
  error: string | null
}

/**
 * Incremental parser for `<len>\n<json>` streams, as the client reads them.
 * Used by tests and tools; the server only writes frames.
 */
export function parseFrames (text: string): ParsedFrames {
  const chunks: unknown[] = []
  let pos = 0
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos)
    if (nl === -1) break
    const prefix = text.slice(pos, nl)
    if (!/^\d{1,9}$/.test(prefix)) return { chunks, rest: text.slice(pos), error: `bad length prefix ${JSON.stringify(prefix.slice(0, 20))}` }
    const len = Number(prefix)
    if (nl + 1 + len > text.length) break
    const json = text.slice(nl + 1, nl + 1 + len)
    try {
      chunks.push(JSON.parse(json))
    } catch {
      return { chunks, rest: text.slice(pos), error: 'chunk is not JSON' }
    }
    pos = nl + 1 + len
  }
  return { chunks, rest: text.slice(pos), error: null }
}
