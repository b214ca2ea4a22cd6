import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import { Ajv } from 'ajv'
import t, { type Test } from 'tap'
import { Type } from 'typebox'
import { buildApp } from '../example-app/app.js'
import { events } from '../example-app/events.js'

// The AsyncAPI 3 document generated from the example app's TypeBox
// declarations, validated against the official AsyncAPI 3.0.0 JSON schema.

const schema = JSON.parse(await readFile(new URL('../node_modules/@asyncapi/specs/schemas/3.0.0-without-$id.json', import.meta.url), 'utf8'))
const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true })
const validate = ajv.compile(schema)

function valid (t: Test, doc: unknown): void {
  const ok = validate(doc)
  t.ok(ok, 'valid AsyncAPI 3.0.0' + (ok ? '' : ': ' + ajv.errorsText(validate.errors, { separator: '\n' })))
}

t.test('the example app: requests with replies, events, channels, emits; valid AsyncAPI 3', async t => {
  const app = await buildApp()
  t.teardown(() => app.close())
  await app.ready()
  const doc = app.webchannel.asyncapi({ title: 'Example chat', version: '2.0.0', emits: [{ channel: 'room:*', events: { 'chat.message': events['chat.message'] } }] }) as any
  valid(t, doc)
  t.equal(doc.asyncapi, '3.0.0')
  t.equal(doc.info.title, 'Example chat')
  const send = doc.operations['receive.main.chat.send']
  t.equal(send.action, 'receive')
  t.ok(send.reply, 'a request has its reply')
  const payload = doc.components.messages['main.chat.send.request'].payload
  t.same(payload.properties.a.items[1].properties.text, { type: 'string', minLength: 1, maxLength: 500 }, 'the TypeBox schema, as declared')
  t.same(payload.required, ['a', 'i'])
  t.equal(doc.channels['channel-room__'].address, 'room:{name}', 'the declared room:* pattern')
  t.equal(doc.operations['send.channel-room__.chat.message'].action, 'send', 'the server emits chat.message on the rooms')
  t.ok(doc.operations['receive.main.subscribe'], 'the built-in subscribe request')
  const served = app.webchannel.asyncapi({ server: { host: 'chat.example' }, emits: [{ events: { 'chat.message': events['chat.message'] } }] }) as any
  valid(t, served)
  t.same(served.servers.default, { host: 'chat.example', protocol: 'wss', pathname: '/channel/ws' })
  t.equal(served.operations['send.main.chat.message'].action, 'send', 'an emit on the main channel')
  // A broken document is caught: the validation can fail.
  t.notOk(validate({ ...doc, operations: { x: { action: 'shout' } } }))
})

t.test('the optional route serves it behind the app\'s hooks; the CLI prints it', async t => {
  const Fastify = (await import('fastify')).default
  const webchannel = (await import('../lib/index.js')).default
  const app = Fastify()
  app.addHook('onRequest', async (request, reply) => {
    if (request.headers.authorization !== 'Bearer ok') return reply.code(401).send({ statusCode: 401, error: 'Unauthorized', message: 'no' })
  })
  await app.register(webchannel, { asyncapi: { title: 'Served' } })
  app.webchannel.on('ping', { args: [], response: Type.String() }, () => 'pong')
  t.teardown(() => app.close())
  t.equal((await app.inject({ url: '/channel/asyncapi.json' })).statusCode, 401)
  const res = await app.inject({ url: '/channel/asyncapi.json', headers: { authorization: 'Bearer ok' } })
  t.equal(res.statusCode, 200)
  const doc = res.json()
  valid(t, doc)
  t.equal(doc.info.title, 'Served')
  t.ok(doc.operations['receive.main.ping'].reply)

  const run = promisify(execFile)
  const cli = new URL('../lib/cli/asyncapi.ts', import.meta.url).pathname
  const fixture = new URL('./fixtures/asyncapi-app.ts', import.meta.url).pathname
  // The CLI runs through this process's own TypeScript loader (tap's), not
  // another one: the child records coverage of lib/ too, and a second
  // compiler's output of the same files cannot be merged with tap's (it
  // scrambled the line counts of every lib/ file the fixture app loads).
  const { stdout } = await run(process.execPath, [...process.execArgv, cli, fixture, 'buildApp'], { timeout: 60_000 })
  const printed = JSON.parse(stdout)
  valid(t, printed)
  t.ok(printed.operations['receive.main.echo'], 'the CLI saw the fixture app\'s handlers')
})

t.test('the CLI refuses what it cannot document, with a message and a non-zero exit', async t => {
  const cli = new URL('../lib/cli/asyncapi.ts', import.meta.url).pathname
  const fixture = new URL('./fixtures/asyncapi-bad.ts', import.meta.url).pathname
  const run = (...args: string[]) => new Promise<{ code: number | null, stdout: string, stderr: string }>(resolve => {
    const child = execFile(process.execPath, [...process.execArgv, cli, ...args], { timeout: 60_000 }, (_err, stdout, stderr) => {
      resolve({ code: child.exitCode, stdout, stderr })
    })
  })
  const [none, help, notFn, bare, broken] = await Promise.all([
    run(), run('--help'), run(fixture, 'title'), run(fixture, 'bareApp'), run(fixture, 'brokenApp'),
  ])
  t.match(none, { code: 2, stdout: '', stderr: /^usage: fastify-webchannel-asyncapi <module> \[export\]/ }, 'no module: usage, exit 2')
  t.match(help, { code: 0, stdout: '', stderr: /^usage: / }, '--help: usage, exit 0')
  t.match(notFn, { code: 2, stdout: '', stderr: /has no function export "title"/ }, 'an export that is not a function')
  t.match(bare, { code: 2, stdout: '', stderr: /no fastify-webchannel plugin registered/ }, 'an app without the plugin')
  t.match(broken, { code: 1, stdout: '', stderr: /Error: the database is down/ }, 'a builder that throws: its error, exit 1')
})
