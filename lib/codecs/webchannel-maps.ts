// WebChannel forward bodies: `count=N&ofs=K&reqI_key=value…` (form-urlencoded,
// UTF-8), where map I carries map id K+I. Also the `Name:value\r\n` header
// blocks of `headers=` (encodeInitMessageHeaders) and `$httpHeaders`.
// Pure functions: they throw `MapsError` on hostile input, never anything else.

/** The most maps one POST may carry (the client never sends more). */
export const MAX_MAPS = 1000
/** Fields per body: 1000 maps with a few keys each, plus count/ofs/headers. */
export const MAX_FIELDS = 20_000

export class MapsError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'MapsError'
  }
}

/** One decoded map: raw JSON text (`__data__`), a plain map, or a map the client could not serialise. */
export type ForwardMap =
  | { readonly id: number, readonly kind: 'data', readonly data: string }
  | { readonly id: number, readonly kind: 'map', readonly data: Record<string, string> }
  | { readonly id: number, readonly kind: 'bad' }

export interface ForwardBody {
  count: number
  /** Map id of the first map; 0 when count is 0. */
  ofs: number
  maps: ForwardMap[]
  /** The handshake's `headers=` block, still encoded as `Name:value\r\n…`; null when absent. */
  headers: string | null
}

function decode (s: string, what: string): string {
  try {
    return decodeURIComponent(s.includes('+') ? s.replace(/\+/g, ' ') : s)
  } catch {
    throw new MapsError(`malformed percent-encoding in ${what}`)
  }
}

/**
 * Split a form body into fields. Duplicate names are refused: a second
 * `count` or `req0_x` can only come from a forged body.
 */
export function parseForm (body: string): Map<string, string> {
  const fields = new Map<string, string>()
  if (body === '') return fields
  let start = 0
  while (start <= body.length) {
    let end = body.indexOf('&', start)
    if (end === -1) end = body.length
    if (end > start) {
      if (fields.size >= MAX_FIELDS) throw new MapsError(`more than ${MAX_FIELDS} fields`)
      const pair = body.slice(start, end)
      const eq = pair.indexOf('=')
      const name = decode(eq === -1 ? pair : pair.slice(0, eq), 'a field name')
      const value = eq === -1 ? '' : decode(pair.slice(eq + 1), `field "${name.slice(0, 40)}"`)
      if (fields.has(name)) throw new MapsError(`duplicate field "${name.slice(0, 40)}"`)
      fields.set(name, value)
    }
    start = end + 1
  }
  return fields
}

const UINT = /^(0|[1-9]\d{0,14})$/

/**
 * `req<I>_<name>` → its map index and key; null when the field is not a map
 * key. A scanner, not a regex: it runs once per field of every forward POST.
 * Same grammar as /^req(0|[1-9]\d{0,3})_(.+)$/s.
 */
export function mapKey (field: string): { index: number, name: string } | null {
  if (field.length < 6 || field.charCodeAt(0) !== 114 || field.charCodeAt(1) !== 101 || field.charCodeAt(2) !== 113) return null
  let i = 3
  let index = 0
  const first = field.charCodeAt(3)
  if (first === 48) { // '0' alone: no leading zeros
    i = 4
  } else {
    while (i < field.length && i < 7) {
      const c = field.charCodeAt(i)
      if (c < 48 || c > 57) break
      index = index * 10 + (c - 48)
      i++
    }
    if (i === 3) return null
  }
  if (field.charCodeAt(i) !== 95 || i + 1 >= field.length) return null // '_' and a non-empty name
  return { index, name: field.slice(i + 1) }
}

const DATA_KEY = '__data__'
const LEGACY_JSON_KEY = 'JSON'

/**
 * A forward body → maps with their ids, in one pass over the text: no field
 * map, no object per `__data__` map (the WebChannel client's only kind).
 * Refuses duplicate fields, unknown top-level fields and indexes beyond
 * `count`, like the grammar in shared/webchannel-wire.md §6.
 */
export function parseForwardBody (body: string): ForwardBody {
  const f = scanFields(body)
  if (f.countText === undefined) {
    // A body with no fields at all (a terminate beacon, a bare retry) carries no maps.
    if (f.fields === 0) return { count: 0, ofs: 0, maps: [], headers: null }
    throw new MapsError('missing "count"')
  }
  if (!UINT.test(f.countText) || Number(f.countText) > MAX_MAPS) throw new MapsError(`"count" must be an integer from 0 to ${MAX_MAPS}`)
  const count = Number(f.countText)
  let ofs = 0
  if (f.ofsText !== undefined) {
    if (!UINT.test(f.ofsText) || !Number.isSafeInteger(Number(f.ofsText) + MAX_MAPS)) throw new MapsError('"ofs" must be a non-negative integer')
    ofs = Number(f.ofsText)
  } else if (count > 0) {
    throw new MapsError('missing "ofs"')
  }
  if (f.data.length > count || f.other.length > count) {
    const index = Math.max(f.data.length, f.other.length) - 1
    throw new MapsError(`field "req${index}_…" is beyond count=${count}`)
  }
  return { count, ofs, maps: buildMaps(count, ofs, f.data, f.other), headers: f.headers }
}

/** The fields of a forward body, sorted by kind; checked for duplicates and unknown names, not yet for counts. */
interface ScannedFields {
  countText: string | undefined
  ofsText: string | undefined
  headers: string | null
  /** Per map index: its __data__ text, or its other keys (rare: plain maps, _badmap). */
  data: Array<string | undefined>
  other: Array<Record<string, string> | undefined>
  fields: number
}

function scanFields (body: string): ScannedFields {
  const f: ScannedFields = { countText: undefined, ofsText: undefined, headers: null, data: [], other: [], fields: 0 }
  const { data } = f
  let start = 0
  const length = body.length
  while (start < length) {
    let end = body.indexOf('&', start)
    if (end === -1) end = length
    if (end > start) {
      if (++f.fields > MAX_FIELDS) throw new MapsError(`more than ${MAX_FIELDS} fields`)
      let eq = body.indexOf('=', start)
      if (eq === -1 || eq > end) eq = end
      // The hot case, `req<I>___data__=…`, is recognised in place: no name string.
      const dataIndex = dataFieldIndex(body, start, eq)
      if (dataIndex !== -1) {
        if (data[dataIndex] !== undefined) throw duplicate(body.slice(start, eq))
        data[dataIndex] = eq < end ? decodeIfNeeded(body.slice(eq + 1, end), `field "${body.slice(start, eq)}"`) : ''
        start = end + 1
        continue
      }
      const name = decodeIfNeeded(body.slice(start, eq), 'a field name')
      const value = eq < end ? decodeIfNeeded(body.slice(eq + 1, end), `field "${name.slice(0, 40)}"`) : ''
      const key = mapKey(name)
      if (key !== null) {
        if (key.name === DATA_KEY) {
          if (data[key.index] !== undefined) throw duplicate(name)
          data[key.index] = value
        } else {
          // Null prototype: keys such as __proto__ stay plain data.
          const map = f.other[key.index] ?? (f.other[key.index] = Object.create(null) as Record<string, string>)
          if (key.name in map) throw duplicate(name)
          map[key.name] = value
        }
      } else if (name === 'count') {
        if (f.countText !== undefined) throw duplicate(name)
        f.countText = value
      } else if (name === 'ofs') {
        if (f.ofsText !== undefined) throw duplicate(name)
        f.ofsText = value
      } else if (name === 'headers') {
        if (f.headers !== null) throw duplicate(name)
        f.headers = value
      } else {
        throw new MapsError(`unexpected field "${name.slice(0, 40)}"`)
      }
    }
    start = end + 1
  }
  return f
}

/** One map per id from `ofs`: `__data__` text, a plain map, or `_badmap`. */
function buildMaps (count: number, ofs: number, data: ReadonlyArray<string | undefined>, other: ReadonlyArray<Record<string, string> | undefined>): ForwardMap[] {
  const maps: ForwardMap[] = new Array(count)
  for (let i = 0; i < count; i++) {
    const id = ofs + i
    const text = data[i]
    const map = other[i]
    if (text !== undefined) maps[i] = { id, kind: 'data', data: text }
    else if (map === undefined) maps[i] = { id, kind: 'map', data: Object.create(null) as Record<string, string> }
    else if (map.type === '_badmap' && Object.keys(map).length === 1) maps[i] = { id, kind: 'bad' }
    // The legacy BrowserChannel client (npm browserchannel's BCSocket) sends an object as {JSON: text}.
    else if (map[LEGACY_JSON_KEY] !== undefined && Object.keys(map).length === 1) maps[i] = { id, kind: 'data', data: map[LEGACY_JSON_KEY] }
    else maps[i] = { id, kind: 'map', data: map }
  }
  return maps
}

const DATA_SUFFIX = '_' + DATA_KEY

/** `req<I>___data__` spelled plainly between from and to → I; otherwise -1 (the general path decides). */
function dataFieldIndex (body: string, from: number, to: number): number {
  if (to - from < 4 + DATA_SUFFIX.length || body.charCodeAt(from) !== 114 || body.charCodeAt(from + 1) !== 101 || body.charCodeAt(from + 2) !== 113) return -1
  const digitsEnd = to - DATA_SUFFIX.length
  if (!body.startsWith(DATA_SUFFIX, digitsEnd)) return -1
  const digits = digitsEnd - (from + 3)
  if (digits < 1 || digits > 4) return -1
  let index = 0
  for (let i = from + 3; i < digitsEnd; i++) {
    const c = body.charCodeAt(i)
    if (c < 48 || c > 57) return -1
    index = index * 10 + (c - 48)
  }
  // No leading zeros: `req01_…` is not a map key.
  if (digits > 1 && body.charCodeAt(from + 3) === 48) return -1
  return index
}

function duplicate (name: string): MapsError {
  return new MapsError(`duplicate field "${name.slice(0, 40)}"`)
}

/** Percent-decoding only where there is something to decode (field names rarely are). */
function decodeIfNeeded (s: string, what: string): string {
  return s.includes('%') || s.includes('+') ? decode(s, what) : s
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$/

/**
 * `Name:value\r\n…` → lower-cased header names, keeping only `allowed` ones.
 * Values with control characters are refused (they could smuggle headers).
 */
export function parseHeaderBlock (block: string, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = Object.create(null)
  if (block.length > 16 * 1024) throw new MapsError('header block too long')
  for (const line of block.split(/\r\n|\n/)) {
    if (line === '') continue
    const colon = line.indexOf(':')
    if (colon <= 0) throw new MapsError('malformed header line')
    const name = line.slice(0, colon).trim()
    const value = line.slice(colon + 1).trim()
    if (!HEADER_NAME.test(name)) throw new MapsError('malformed header name')
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) throw new MapsError('malformed header value')
    const lower = name.toLowerCase()
    if (allowed.includes(lower)) out[lower] = value
  }
  return out
}
