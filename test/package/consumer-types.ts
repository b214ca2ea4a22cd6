// The published types compile in a consumer's project under moduleResolution
// node16, nodenext and bundler, with skipLibCheck false: a tiny TypeScript
// consumer of the installed package (consumer-app.ts) is compiled by this
// repo's TypeScript (5.x; the consumer installs none), one mode per test file
// (consumer-types-<mode>.test.ts).
//
// What is reported is what tsc reports for the consumer's code and for every
// declaration file of fastify-webchannel (options, global and syntactic
// diagnostics of the whole program, semantic diagnostics of those files).
// Left out: the semantic check of the dependencies' own declarations
// (typebox, fastify, @types/node, TypeScript's lib files), which does not
// depend on this package and would make each mode cost 30-40 s of CPU instead
// of a few seconds.
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Test } from 'tap'
import ts from 'typescript'
import { consumerApp } from './consumer-app.js'

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
  app.webchannel.to('room:' + room).emit('chat.message', { from: ctx.principal?.name, text: msg.text })
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
  const app = await consumerApp()
  t.comment(`consumer app ${app.dir}: ${app.reused ? 'reused' : `packed and installed in ${app.installSeconds.toFixed(1)} s`}`)
  const host: ts.FormatDiagnosticsHost = {
    getCanonicalFileName: f => f,
    getCurrentDirectory: () => app.dir,
    getNewLine: () => '\n',
  }
  await t.test(`moduleResolution ${resolution}, skipLibCheck false`, async t => {
    const started = Date.now()
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
        noEmit: true,
      },
      files: ['consumer.ts'],
    }, null, 2) + '\n')
    await writeFile(join(dir, 'consumer.ts'), CONSUMER)

    const config = ts.getParsedCommandLineOfConfigFile(join(dir, 'tsconfig.json'), {}, {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: d => { throw new Error(ts.formatDiagnostic(d, host)) },
    })!
    t.equal(config.options.skipLibCheck, false)
    const program = ts.createProgram({ rootNames: config.fileNames, options: config.options })
    const pkg = join(app.dir, 'node_modules/fastify-webchannel/')
    const checked = program.getSourceFiles().filter(sf => sf.fileName.startsWith(pkg) || sf.fileName.startsWith(dir + '/'))
    const names = checked.map(sf => sf.fileName.slice(app.dir.length + 1))
    for (const f of ['types-' + resolution + '/consumer.ts', 'node_modules/fastify-webchannel/dist/index.d.ts', 'node_modules/fastify-webchannel/dist/errors.d.ts',
      'node_modules/fastify-webchannel/dist/client/index.d.ts', 'node_modules/fastify-webchannel/dist/client/websocket.d.ts']) {
      t.ok(names.includes(f), f + ' is in the program')
    }
    const diagnostics = [
      ...config.errors,
      ...program.getOptionsDiagnostics(),
      ...program.getGlobalDiagnostics(),
      ...program.getSyntacticDiagnostics(),
      ...checked.flatMap(sf => program.getSemanticDiagnostics(sf)),
    ]
    t.equal(ts.formatDiagnostics(diagnostics, host), '', 'no diagnostics')
    t.comment(`${resolution}: ${checked.length} files checked in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  })
}
