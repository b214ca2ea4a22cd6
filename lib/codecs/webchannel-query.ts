// WebChannel v8 query strings: which kind of request this is (handshake,
// forward POST, back channel, terminate) and its typed parameters. The route's
// TypeBox schema has already checked each parameter's shape; this decides what
// the combination means. Pure: throws `QueryError`, nothing else.

export class QueryError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'QueryError'
  }
}

/** The query after schema validation: every value a single string. */
export type BindQuery = Readonly<Record<string, string | undefined>>

export type BindRequest =
  | { kind: 'handshake', rid: number, sessionIdParam: string | null, oldSid: string | null, oldAid: number | null }
  | { kind: 'fast-handshake', rid: number, body: string, sessionIdParam: string | null }
  | { kind: 'back-channel', sid: string, aid: number | null, streaming: boolean, timeout: number | null }
  | { kind: 'forward', sid: string, rid: number, aid: number | null }
  | { kind: 'terminate', sid: string }

// Names the client itself puts in the query; a sticky parameter must not shadow them.
const RESERVED = new Set(['VER', 'RID', 'CVER', 'SID', 'AID', 'CI', 'TYPE', 't', 'zx', 'TO', 'OSID', 'OAID', 'MODE', 'DOMAIN', '$req', '$httpHeaders', 'X-HTTP-Session-Id'])
const PARAM_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/

function int (q: BindQuery, name: string): number | null {
  const v = q[name]
  if (v === undefined) return null
  if (!/^-?\d{1,15}$/.test(v)) throw new QueryError(`${name} must be an integer`)
  return Number(v)
}

function rid (q: BindQuery): number {
  const r = int(q, 'RID')
  if (r === null || r < 0) throw new QueryError('RID must be a non-negative integer')
  return r
}

function aid (q: BindQuery): number | null {
  const a = int(q, 'AID')
  if (a !== null && a < -1) throw new QueryError('AID must be -1 or more')
  return a
}

function sessionIdParam (q: BindQuery): string | null {
  const name = q['X-HTTP-Session-Id']
  if (name === undefined) return null
  if (!PARAM_NAME.test(name) || RESERVED.has(name)) throw new QueryError('X-HTTP-Session-Id must name a free query parameter')
  return name
}

/** Classify a bind request (§2 of the wire notes). */
export function classifyBind (method: string, q: BindQuery): BindRequest {
  if (q.VER !== '8') throw new QueryError('VER must be 8')
  const type = q.TYPE
  const sid = q.SID
  if (type === 'html') throw new QueryError('TYPE=html (the legacy IE iframe transport) is not supported')
  if (type === 'init') throw new QueryError('TYPE=init (blocking handshake) is not supported')
  if (type === 'terminate') {
    if (sid === undefined || sid === 'null') throw new QueryError('terminate needs a SID')
    return { kind: 'terminate', sid }
  }
  if (method === 'GET' && sid === 'null') {
    if (type !== undefined) throw new QueryError(`unexpected TYPE=${type} on a fast handshake`)
    return { kind: 'fast-handshake', rid: rid(q), body: q.$req ?? '', sessionIdParam: sessionIdParam(q) }
  }
  if (method === 'POST' && sid === undefined) {
    if (type !== undefined) throw new QueryError(`unexpected TYPE=${type} on a handshake`)
    const oldSid = q.OSID ?? null
    return { kind: 'handshake', rid: rid(q), sessionIdParam: sessionIdParam(q), oldSid, oldAid: oldSid === null ? null : aidOf(q, 'OAID') }
  }
  if (sid === undefined || sid === 'null') throw new QueryError('SID is required')
  if (method === 'GET') {
    if (type !== 'xmlhttp') throw new QueryError('a back channel needs TYPE=xmlhttp')
    if (q.RID !== 'rpc') throw new QueryError('a back channel needs RID=rpc')
    const ci = q.CI
    if (ci !== '0' && ci !== '1') throw new QueryError('CI must be 0 or 1')
    const to = int(q, 'TO')
    if (to !== null && to <= 0) throw new QueryError('TO must be positive')
    return { kind: 'back-channel', sid, aid: aid(q), streaming: ci === '0', timeout: to }
  }
  if (type !== undefined) throw new QueryError(`unexpected TYPE=${type} on a forward request`)
  return { kind: 'forward', sid, rid: rid(q), aid: aid(q) }
}

function aidOf (q: BindQuery, name: string): number | null {
  const v = int(q, name)
  if (v !== null && v < -1) throw new QueryError(`${name} must be -1 or more`)
  return v
}
