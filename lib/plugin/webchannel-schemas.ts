import { Type } from 'typebox'
import { MAX_MAPS, type ForwardBody } from '../codecs/webchannel-maps.js'

// The WebChannel routes' TypeBox schemas: a malformed query or body gets a
// JSON 400 before any session state is touched.

const uint = '^(0|[1-9][0-9]{0,14})$'
export const BindQuerySchema = Type.Object({
  VER: Type.Literal('8'),
  RID: Type.Optional(Type.String({ pattern: '^(rpc|0|[1-9][0-9]{0,14})$' })),
  AID: Type.Optional(Type.String({ pattern: '^(-1|0|[1-9][0-9]{0,14})$' })),
  SID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
  CI: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')])),
  TYPE: Type.Optional(Type.Union([Type.Literal('xmlhttp'), Type.Literal('terminate'), Type.Literal('html'), Type.Literal('init')])),
  TO: Type.Optional(Type.String({ pattern: uint })),
  CVER: Type.Optional(Type.String({ maxLength: 16 })),
  OSID: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' })),
  OAID: Type.Optional(Type.String({ pattern: '^(-1|0|[1-9][0-9]{0,14})$' })),
  'X-HTTP-Session-Id': Type.Optional(Type.String({ maxLength: 64 })),
  $req: Type.Optional(Type.String()),
  $httpHeaders: Type.Optional(Type.String({ maxLength: 16384 })),
})

// The forward body as the body parser decodes it (`count=N&ofs=K&reqI_key=…`
// → maps with their ids): the form grammar itself (duplicates, indexes within
// count, unknown fields) is enforced by that parser, in one pass.
const ForwardMapSchema = Type.Union([
  Type.Object({ id: Type.Integer({ minimum: 0 }), kind: Type.Literal('data'), data: Type.String() }),
  Type.Object({ id: Type.Integer({ minimum: 0 }), kind: Type.Literal('map'), data: Type.Record(Type.String(), Type.String()) }),
  Type.Object({ id: Type.Integer({ minimum: 0 }), kind: Type.Literal('bad') }),
])
export const ForwardBodySchema = Type.Union([
  Type.Null(),
  Type.Object({
    count: Type.Integer({ minimum: 0, maximum: MAX_MAPS }),
    ofs: Type.Integer({ minimum: 0 }),
    headers: Type.Union([Type.String({ maxLength: 16384 }), Type.Null()]),
    maps: Type.Array(ForwardMapSchema, { maxItems: MAX_MAPS }),
  }),
])
export const NO_MAPS: ForwardBody = Object.freeze({ count: 0, ofs: 0, maps: [], headers: null }) as ForwardBody

export const TestQuerySchema = Type.Object({
  VER: Type.Literal('8'),
  MODE: Type.Optional(Type.Literal('init')),
  TYPE: Type.Optional(Type.Literal('xmlhttp')),
  DOMAIN: Type.Optional(Type.String({ maxLength: 256 })),
})
