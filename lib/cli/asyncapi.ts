#!/usr/bin/env node
// fastify-webchannel-asyncapi <module> [export]: prints the AsyncAPI 3 document
// of an app. The module exports (default, or the named export) a function that
// returns the Fastify instance with the plugin registered, or a promise of it.
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'

interface AppLike {
  ready (): PromiseLike<unknown>
  close (): PromiseLike<unknown>
  webchannel?: { asyncapi (): unknown }
}

async function main (argv: string[]): Promise<number> {
  const [file, name = 'default'] = argv
  if (file === undefined || file === '-h' || file === '--help') {
    process.stderr.write('usage: fastify-webchannel-asyncapi <module> [export]\n')
    return file === undefined ? 2 : 0
  }
  const mod = await import(pathToFileURL(resolve(file)).href) as Record<string, unknown>
  const build = mod[name]
  if (typeof build !== 'function') {
    process.stderr.write(`${file} has no function export "${name}"\n`)
    return 2
  }
  const app = await (build as () => AppLike | Promise<AppLike>)()
  await app.ready()
  if (app.webchannel === undefined) {
    process.stderr.write('the app has no fastify-webchannel plugin registered\n')
    await app.close()
    return 2
  }
  process.stdout.write(JSON.stringify(app.webchannel.asyncapi(), null, 2) + '\n')
  await app.close()
  return 0
}

main(process.argv.slice(2)).then(code => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(String((err as Error)?.stack ?? err) + '\n')
  process.exitCode = 1
})
