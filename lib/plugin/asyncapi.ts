import type { EventSchema } from '../events/schema.js'
import type { Hub } from '../hub/hub.js'
import type { EventMap } from './targets.js'

// An AsyncAPI 3 document from what the app declared: every handler with its
// TypeBox schema (events, and requests with their replies), the channels, and
// the events the server emits, for both transports. The wire format is
// ws-wrapper's envelope, so each message's payload is that envelope.

export interface AsyncApiOptions {
  /** info.title. Default 'fastify-webchannel API'. */
  title?: string
  /** info.version. Default '1.0.0'. */
  version?: string
  description?: string
  /** Events the server emits, by channel ('' or omitted: the main channel). */
  emits?: Array<{ channel?: string, events: EventMap }>
  /** Where clients connect, e.g. { host: 'example.com', protocol: 'wss' }; omitted: no servers section. */
  server?: { host: string, protocol?: 'ws' | 'wss' }
}

type Json = Record<string, unknown>

interface Built {
  channels: Json
  operations: Json
  messages: Json
}

const MAIN = 'main'

/** The AsyncAPI 3.0.0 document (a plain JSON-able object). */
export function asyncApiDocument (hub: Hub, prefix: string, wsPath: string, o: AsyncApiOptions = {}): Json {
  const built: Built = { channels: {}, operations: {}, messages: {} }
  ensureChannel(built, null)
  describeSubscribe(built)
  for (const h of hub.router.describe()) describeHandler(built, h.channel, h.event, h.schema)
  for (const group of o.emits ?? []) {
    const channel = group.channel === undefined || group.channel === '' ? null : group.channel
    for (const [event, schema] of Object.entries(group.events)) describeEmit(built, channel, event, schema)
  }
  for (const pattern of hub.channels.declarations()) ensureChannel(built, pattern)
  const doc: Json = {
    asyncapi: '3.0.0',
    info: {
      title: o.title ?? 'fastify-webchannel API',
      version: o.version ?? '1.0.0',
      description: o.description ?? `ws-wrapper envelopes over WebSocket (${prefix}${wsPath}) and the WebChannel long-poll transport (${prefix}).`,
    },
    defaultContentType: 'application/json',
    channels: built.channels,
    operations: built.operations,
    components: { messages: built.messages },
  }
  if (o.server !== undefined) {
    doc.servers = { default: { host: o.server.host, protocol: o.server.protocol ?? 'wss', pathname: prefix + wsPath } }
  }
  return doc
}

function channelId (channel: string | null): string {
  return channel === null ? MAIN : 'channel-' + channel.replace(/[^A-Za-z0-9_.-]/g, '_')
}

function ensureChannel (b: Built, channel: string | null): string {
  const id = channelId(channel)
  if (b.channels[id] === undefined) {
    const entry: Json = channel === null
      ? { address: null, title: 'Main channel', description: 'Envelopes without "c".', messages: {} }
      : channel.includes('*')
        ? { address: channel.replace(/\*/g, '{name}'), description: `Channels matching ${channel} ("c" in the envelope).`, parameters: { name: { description: 'The part the * matches.' } }, messages: {} }
        : { address: channel, description: `The channel ${channel} ("c" in the envelope).`, messages: {} }
    b.channels[id] = entry
  }
  return id
}

function addMessage (b: Built, channel: string | null, key: string, message: Json): Json {
  const chId = ensureChannel(b, channel)
  const msgId = `${chId}.${key}`.replace(/[^A-Za-z0-9_.-]/g, '_')
  b.messages[msgId] = message
  ;(b.channels[chId] as { messages: Json }).messages[msgId] = { $ref: `#/components/messages/${msgId}` }
  return { $ref: `#/channels/${chId}/messages/${msgId}` }
}

/** The envelope `{"a":[name, ...args]}` (plus "c" and "i" as needed) as a draft-07 schema. */
function envelope (channel: string | null, event: string, schema: EventSchema | undefined, request: boolean): Json {
  const args = schema?.args === undefined ? [] : [...schema.args].map(plain)
  const a: Json = schema?.args === undefined
    ? { type: 'array', items: [{ const: event }], minItems: 1 }
    : { type: 'array', items: [{ const: event }, ...args], minItems: 1 + args.length, additionalItems: false }
  const properties: Json = { a }
  const required = ['a']
  if (channel !== null) {
    properties.c = channel.includes('*') ? { type: 'string' } : { const: channel }
    required.push('c')
  }
  if (request) {
    properties.i = { type: 'integer', minimum: 1, description: 'Request id, echoed in the reply.' }
    required.push('i')
  }
  return { type: 'object', properties, required }
}

function reply (schema: EventSchema | undefined): Json {
  return {
    type: 'object',
    description: 'The reply: {"i": id, "d": data}, or an error response {"i": id, "e": {message, code}, "_": 1}.',
    properties: { i: { type: 'integer' }, d: schema?.response === undefined ? {} : plain(schema.response), e: { type: 'object' } },
    required: ['i'],
  }
}

function describeHandler (b: Built, channel: string | null, event: string, schema: EventSchema | undefined): void {
  const request = schema?.response !== undefined
  const key = request ? `${event}.request` : event
  const ref = addMessage(b, channel, key, { name: event, payload: envelope(channel, event, schema, request) })
  const operation: Json = {
    action: 'receive',
    channel: { $ref: `#/channels/${channelId(channel)}` },
    summary: request ? `Request "${event}", answered with its reply.` : `Event "${event}".`,
    messages: [ref],
  }
  if (request) {
    const replyRef = addMessage(b, channel, `${event}.reply`, { name: `${event} reply`, payload: reply(schema) })
    operation.reply = { channel: { $ref: `#/channels/${channelId(channel)}` }, messages: [replyRef] }
  }
  b.operations[operationId('receive', channel, event)] = operation
}

function describeEmit (b: Built, channel: string | null, event: string, schema: EventSchema): void {
  const ref = addMessage(b, channel, `${event}.emit`, { name: event, payload: envelope(channel, event, schema, false) })
  b.operations[operationId('send', channel, event)] = {
    action: 'send',
    channel: { $ref: `#/channels/${channelId(channel)}` },
    summary: `The server emits "${event}".`,
    messages: [ref],
  }
}

/** The built-in subscribe and unsubscribe requests. */
function describeSubscribe (b: Built): void {
  for (const name of ['subscribe', 'unsubscribe']) {
    const schema = { args: [{ type: 'string', description: 'A channel name.' }], response: { type: 'boolean' } } as unknown as EventSchema
    describeHandler(b, null, name, schema)
  }
}

function operationId (action: string, channel: string | null, event: string): string {
  return `${action}.${channelId(channel)}.${event}`.replace(/[^A-Za-z0-9_.-]/g, '_')
}

/** A TypeBox schema as plain JSON (its symbol-keyed metadata dropped). */
function plain (schema: unknown): Json {
  return JSON.parse(JSON.stringify(schema)) as Json
}
