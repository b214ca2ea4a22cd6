// Fuzz: WebChannel query classification. Any combination of parameters
// raises QueryError or yields one well-formed request kind; well-formed
// queries are classified as the client means them.
import fc from 'fast-check'
import t from 'tap'
import { classifyBind, QueryError, type BindQuery, type BindRequest } from '../../lib/codecs/webchannel-query.js'
import { anyText, mutated, property, throwsOnly } from '../helpers/fuzz.js'

const NAMES = ['VER', 'RID', 'CVER', 'SID', 'AID', 'CI', 'TYPE', 't', 'zx', 'TO', 'OSID', 'OAID', '$req', 'X-HTTP-Session-Id', 'gsessionid']
const plausible = fc.oneof(
  anyText(12),
  fc.integer().map(String),
  fc.constantFrom('8', '7', 'rpc', 'null', 'xmlhttp', 'terminate', 'html', 'init', '0', '1', '-1', '-2', '1e3', '0x10', ' 1', '9007199254740993', '999999999999999', 'VER', 'SID')
)
const method = fc.constantFrom('GET', 'POST', 'PUT', 'OPTIONS', 'get', '')
const query = fc.dictionary(fc.constantFrom(...NAMES), plausible, { maxKeys: 8 })

function wellFormed (r: BindRequest): boolean {
  const intOrNull = (v: number | null) => v === null || Number.isSafeInteger(v)
  switch (r.kind) {
    case 'handshake': return Number.isSafeInteger(r.rid) && r.rid >= 0 && intOrNull(r.oldAid)
    case 'fast-handshake': return Number.isSafeInteger(r.rid) && typeof r.body === 'string'
    case 'back-channel': return typeof r.sid === 'string' && r.sid !== 'null' && intOrNull(r.aid) && (r.aid === null || r.aid >= -1) && (r.timeout === null || r.timeout > 0)
    case 'forward': return typeof r.sid === 'string' && r.sid !== 'null' && Number.isSafeInteger(r.rid) && r.rid >= 0 && intOrNull(r.aid)
    case 'terminate': return typeof r.sid === 'string' && r.sid !== 'null'
  }
}

const classified = (m: string, q: BindQuery) => throwsOnly(() => {
  const r = classifyBind(m, q)
  if (!wellFormed(r)) throw new Error('ill-formed: ' + JSON.stringify(r))
}, QueryError)

t.test('classifyBind: any parameters give QueryError or a well-formed request', async t => {
  property(t, 'plausible names and values', fc.property(method, query, classified), 1500)
  property(t, 'VER=8 and mostly valid values', fc.property(method, query, (m, q) => classified(m, { ...q, VER: '8' })), 1500)
  property(t, 'mutated query strings', fc.property(method, mutated(fc.constantFrom(
    'VER=8&RID=100&CVER=22', 'VER=8&RID=rpc&SID=abc&AID=0&CI=0&TYPE=xmlhttp', 'VER=8&SID=abc&RID=101&AID=3', 'VER=8&SID=abc&RID=102&TYPE=terminate', 'VER=8&RID=5&SID=null&$req=count%3D0')),
  (m, qs) => classified(m, Object.fromEntries(new URLSearchParams(qs)))), 1000)
})

t.test('classifyBind: the client\'s own queries are classified as meant', async t => {
  const sid = fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 24 }).filter(s => s !== 'null')
  const rid = fc.nat({ max: 99_999_999 })
  const aid = fc.integer({ min: -1, max: 1_000_000 })
  property(t, 'handshake', fc.property(rid, r => classifyBind('POST', { VER: '8', RID: String(r), CVER: '22', zx: 'a', t: '1' }).kind === 'handshake'), 200)
  property(t, 'back channel', fc.property(sid, aid, fc.boolean(), (s, a, streaming) => {
    const r = classifyBind('GET', { VER: '8', RID: 'rpc', SID: s, AID: String(a), CI: streaming ? '0' : '1', TYPE: 'xmlhttp' })
    return r.kind === 'back-channel' && r.sid === s && r.aid === a && r.streaming === streaming
  }), 300)
  property(t, 'forward', fc.property(sid, rid, aid, (s, r, a) => {
    const c = classifyBind('POST', { VER: '8', SID: s, RID: String(r), AID: String(a) })
    return c.kind === 'forward' && c.sid === s && c.rid === r && c.aid === a
  }), 300)
  property(t, 'terminate, by GET or POST', fc.property(sid, fc.constantFrom('GET', 'POST'), (s, m) => {
    const c = classifyBind(m, { VER: '8', SID: s, RID: '9', TYPE: 'terminate' })
    return c.kind === 'terminate' && c.sid === s
  }), 100)
  property(t, 'every VER but 8 is refused', fc.property(plausible.filter(v => v !== '8'), v => {
    try { classifyBind('POST', { VER: v, RID: '1' }) } catch (err) { return err instanceof QueryError }
    return false
  }), 300)
})
