// The chat's events, declared once with TypeBox. The server validates with
// these schemas; the page imports the type to get typed requests and events.
import { Type, type Static } from 'typebox'
import { defineEvents } from '../lib/client/index.js'

export const ChatMessage = Type.Object({
  id: Type.String(),
  room: Type.String(),
  from: Type.String(),
  text: Type.String(),
  ts: Type.Number(),
})
export type ChatMessage = Static<typeof ChatMessage>

export const events = defineEvents({
  /** Returns its single argument unchanged. */
  echo: { args: [Type.Unknown()], response: Type.Unknown() },
  /** The caller's name. */
  whoami: { args: [], response: Type.String() },
  /** Post to a room the caller joined. */
  'chat.send': {
    args: [Type.Object({
      room: Type.String({ minLength: 1, maxLength: 64 }),
      text: Type.String({ minLength: 1, maxLength: 500 }),
    })],
    response: Type.Object({ id: Type.String(), ts: Type.Number() }),
  },
  /** Server → every subscriber of `room:<name>`. */
  'chat.message': { args: [ChatMessage] },
})
export type ChatEvents = typeof events
