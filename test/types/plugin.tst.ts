import Fastify from 'fastify'
import { Type } from 'typebox'
import { describe, expect, test } from 'tstyche'
import webchannel, { defineEvents, type EventContext, type Session, type WebChannelApi } from '../../lib/index.js'

const app = Fastify()
await app.register(webchannel, { prefix: '/rt', websocket: { maxMessageSize: 65536 } })

const events = defineEvents({
  'chat.send': {
    args: [Type.Object({ room: Type.String(), text: Type.String() })],
    response: Type.Object({ id: Type.String(), ts: Type.Number() }),
  },
  'math.add': { args: [Type.Number(), Type.Number()] },
})

describe('the app.webchannel decorator', () => {
  test('is declared on FastifyInstance', () => {
    expect(app.webchannel).type.toBe<WebChannelApi>()
  })

  test('handler arguments are inferred from the TypeBox schemas', () => {
    app.webchannel.on('chat.send', events['chat.send'], (ctx, msg) => {
      expect(ctx).type.toBe<EventContext>()
      expect(msg).type.toBe<{ room: string, text: string }>()
      return { id: 'x', ts: 1 }
    })
    app.webchannel.on('math.add', events['math.add'], (_ctx, a, b) => {
      expect(a).type.toBe<number>()
      expect(b).type.toBe<number>()
      return a + b
    })
  })

  test('the return value must match the response schema', () => {
    expect(app.webchannel.on).type.not.toBeCallableWith('chat.send', events['chat.send'], () => ({ id: 1 }))
    expect(app.webchannel.on).type.toBeCallableWith('chat.send', events['chat.send'], async () => ({ id: 'a', ts: 2 }))
  })

  test('options are checked', () => {
    expect(app.register).type.not.toBeCallableWith(webchannel, { prefix: 5 })
    expect(app.register).type.not.toBeCallableWith(webchannel, { websocket: { pingInterval: '30s' } })
  })

  test('emit helpers and sessions', () => {
    expect(app.webchannel.to('room:a').emit('chat.message', { text: 'hi' })).type.toBe<number>()
    expect(app.webchannel.toSession('id').request('ask')).type.toBe<Promise<unknown>>()
    expect(app.webchannel.session('id')).type.toBe<Session | undefined>()
    expect(app.webchannel.to('room:a').count()).type.toBe<Promise<number>>()
    expect(app.webchannel.to('room:a').localCount()).type.toBe<number>()
    expect(app.webchannel.all().except('a', ['b']).emit('news')).type.toBe<number>()
    app.webchannel.channel('room:*', {
      authorize: (session, name) => {
        expect(session).type.toBe<Session>()
        expect(name).type.toBe<string>()
        return true
      },
    })
  })
})

describe('typed emits', () => {
  test('an event map checks names and arguments', () => {
    const room = app.webchannel.to<typeof events>('room:a')
    expect(room.emit('math.add', 1, 2)).type.toBe<number>()
    expect(room.emit).type.not.toBeCallableWith('math.add', 'one', 2)
    expect(room.emit).type.not.toBeCallableWith('no.such.event')
    expect(room.except('id').emit).type.not.toBeCallableWith('math.add', 1)
    expect(app.webchannel.toSession<typeof events>('id').emit).type.not.toBeCallableWith('chat.send', { room: 1 })
  })
})

declare module '../../lib/index.js' {
  interface PrincipalRegistry { principal: { id: string, name: string } }
}

describe('the principal type', () => {
  test('is the one the app declared, on sessions and contexts', () => {
    app.webchannel.on('whoami', (ctx) => {
      expect(ctx.principal).type.toBe<{ id: string, name: string } | null>()
      return ctx.principal?.name
    })
    app.webchannel.channel('team:*', { authorize: (session) => session.principal?.name === 'admin' })
  })
})
