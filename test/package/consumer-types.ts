// A tiny TypeScript consumer of the installed package (consumer-app.ts),
// checked by `tsc --noEmit` with skipLibCheck false, so every declaration
// file the package ships (and those of its dependencies: typebox's take most
// of the time) is checked, under one moduleResolution. The compiler is this repo's TypeScript (5.x); the
// consumer installs none.
import { mkdir, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import type { Test } from 'tap'
import { consumerApp, run } from './consumer-app.js'

export type Resolution = 'node16' | 'nodenext' | 'bundler'

const CONSUMER = `
import Fastify from 'fastify'
import webchannel, { defineEvents, WireError, WireErrorCode, CloseCode, RedisAdapter, type Session, type WebChannelOptions } from 'fastify-webchannel'
import { connect, ClientError, type Client } from 'fastify-webchannel/client'
import { connect as connectWebSocketOnly } from 'fastify-webchannel/client/websocket'
import { Type } from 'typebox'

declare module 'fastify-webchannel' { interface PrincipalRegistry { principal: { name: string } } }

export const events = defineEvents({
  'chat.send': {
    args: [Type.Object({ room: Type.String(), text: Type.String() })],
    response: Type.Object({ id: Type.String(), ts: Type.Number() }),
  },
})

const options: WebChannelOptions = { prefix: '/channel', websocket: { pingInterval: 0 } }
const app = Fastify()
await app.register(webchannel, options)
app.webchannel.channel('room:*', { authorize: (s: Session, room: string) => room !== 'room:admins' || s.principal?.name === 'admin' })
app.webchannel.on('chat.send', events['chat.send'], (ctx, msg) => {
  const room: string = msg.room
  if (msg.text === '') throw new WireError(WireErrorCode.VALIDATION, 'empty', { room })
  app.webchannel.emit('room:' + room, 'chat.message', { from: ctx.principal?.name, text: msg.text })
  return { id: 'x', ts: Date.now() }
})
export const adapter: typeof RedisAdapter = RedisAdapter
export const going: number = CloseCode.GOING_AWAY

const client: Client<typeof events> = connect<typeof events>('http://127.0.0.1:3000/channel', { token: 't' })
export const reply: Promise<{ id: string, ts: number }> = client.request('chat.send', { room: 'lobby', text: 'hi' })
// @ts-expect-error the payload is checked against the schema
client.request('chat.send', { room: 1 })
client.on('error', (err) => { if (err instanceof ClientError) console.log(err.code) })
connectWebSocketOnly<typeof events>('http://127.0.0.1:3000/channel').close()
`

export async function checkConsumerTypes (t: Test, resolution: Resolution): Promise<void> {
  const started = Date.now()
  const app = await consumerApp()
  const dir = join(app.dir, 'types-' + resolution)
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      module: resolution === 'bundler' ? 'esnext' : resolution,
      moduleResolution: resolution,
      target: 'ES2022',
      lib: ['ES2022', 'DOM'],
      types: ['node'],
      strict: true,
      skipLibCheck: false,
      // TypeScript's own lib.*.d.ts (a third of the time): not the package's to check.
      skipDefaultLibCheck: true,
      noEmit: true,
    },
    files: ['consumer.ts'],
  }, null, 2) + '\n')
  await writeFile(join(dir, 'consumer.ts'), CONSUMER)
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  const r = await run(process.execPath, [tsc, '-p', dir, '--pretty', 'false'], dir, 170_000)
  t.equal(r.code, 0, `tsc --noEmit, moduleResolution ${resolution}, skipLibCheck false`)
  t.equal(r.stdout + r.stderr, '', 'no diagnostics')
  t.comment(`${resolution}: ${app.reused ? 'reused install' : `install ${app.installSeconds.toFixed(1)} s`}, tsc ${((Date.now() - started) / 1000 - app.installSeconds).toFixed(1)} s`)
}
