// One deploy setup: the example app behind nginx, and every client at once
// (Node: closure's WebChannel, the project's client; Chromium: the same plus
// BCSocket) running the numbered exchange. Each client's outcome is asserted
// by counting: every message once, in order, every request answered, no
// error, no close, no reconnect.
import type { Test } from 'tap'
import WebSocket from 'ws'
import { chromium } from 'playwright-core'
import { connect } from '../../../lib/client/index.js'
import { openChannel } from '../../helpers/wc-node-client.js'
import { CHROMIUM_ARGS } from '../../helpers/browser.js'
import { runProject, runRaw, text, urlParams, type Outcome, type Plan } from './exchange.js'
import { toolsPresent } from './nginx.js'
import { login, startStack, type Stack, type StackOptions } from './stack.js'

export type ClientKind =
  | 'node closure' | 'node project websocket' | 'node project webchannel' | 'node project auto'
  | 'chromium closure' | 'chromium project websocket' | 'chromium project webchannel' | 'chromium project auto' | 'chromium bcsocket'

export const ALL_CLIENTS: ClientKind[] = [
  'node closure', 'node project websocket', 'node project webchannel',
  'chromium closure', 'chromium project websocket', 'chromium project webchannel', 'chromium bcsocket',
]

export interface SetupRun extends StackOptions {
  clients?: ClientKind[]
  /** Silence in the middle of the traffic: longer than the proxy's read timeout. */
  pauseMs: number
  /** The transport each project client must end up on (default: the forced one; auto: websocket). */
  transport?: Partial<Record<ClientKind, string>>
  /** Clients whose assertions are known to fail today, with the reason. */
  todo?: Partial<Record<ClientKind, string>>
  /** More assertions about the setup, after the clients ran (the proxy still up; `page` is a fresh Chromium page on it). */
  check?: (t: Test, stack: Stack, page: import('playwright-core').Page) => Promise<void>
}

/** A `ws` WebSocket that accepts the throwaway certificate of a TLS setup. */
class TestWebSocket extends WebSocket {
  constructor (url: string) {
    super(url, { rejectUnauthorized: false })
  }
}

async function nodeClient (kind: ClientKind, origin: string, plan: Plan): Promise<Outcome> {
  const token = await login(origin, plan.room)
  if (kind === 'node closure') {
    const ch = openChannel(origin + '/channel', { sendRawJson: true, messageUrlParams: urlParams(token), detectBufferingProxy: true })
    const problems: string[] = []
    let fn: (m: unknown) => void = () => {}
    let live = true
    const seen = new Set<unknown>()
    // wc-node-client records events; forward the new messages as they come.
    const pump = setInterval(() => {
      for (const e of ch.events) {
        if (seen.has(e)) continue
        seen.add(e)
        if (e.type === 'message') fn(e.data)
        else if (e.type !== 'open' && live) problems.push('closure ' + e.type)
      }
    }, 5)
    try {
      return await runRaw({ send: (m) => ch.send(m), onMessage: (f) => { fn = f }, problems }, plan)
    } finally {
      live = false
      clearInterval(pump)
      ch.close()
    }
  }
  const transport = kind.slice('node project '.length) as 'websocket' | 'webchannel' | 'auto'
  const client = connect(origin + '/channel', { WebSocket: TestWebSocket, token, transport, reconnect: { initialDelay: 100, maxDelay: 1000 } })
  try {
    return await runProject(client, plan)
  } finally {
    client.close()
  }
}

export async function runSetup (t: Test, name: string, run: SetupRun): Promise<void> {
  const tools = ['/usr/sbin/nginx', '/usr/bin/chromium', ...(run.proxy.tls === true ? ['/usr/bin/openssl'] : [])]
  if (!toolsPresent(t, tools)) return
  const stack: Stack = await startStack(run)
  t.teardown(() => stack.stop())
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS })
  t.teardown(() => browser.close())
  const context = await browser.newContext({ ignoreHTTPSErrors: true })
  await context.route('**/*', (route) => new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort())

  const clients = run.clients ?? ALL_CLIENTS
  const plans = new Map<ClientKind, Plan>()
  const outcomes = await Promise.all(clients.map(async (kind, i) => {
    const plan: Plan = { room: `${name.replace(/\W+/g, '-')}-${i}`, count: 100, gapMs: 15, pauseMs: run.pauseMs, deadlineMs: 15_000 }
    plans.set(kind, plan)
    try {
      if (kind.startsWith('node ')) return await nodeClient(kind, stack.origin, plan)
      const page = await context.newPage()
      await page.goto(stack.origin + '/__deploy/page.html')
      await page.waitForFunction(() => 'deployTest' in globalThis)
      const pageKind = kind === 'chromium closure' ? 'closure' : kind === 'chromium bcsocket' ? 'bcsocket' : kind.replace('chromium project ', 'project-')
      const out = await page.evaluate(({ k, p }) => (globalThis as unknown as { deployTest: { run (k: string, p: unknown): Promise<Outcome> } }).deployTest.run(k, p), { k: pageKind, p: plan })
      await page.close()
      return out
    } catch (err) {
      return { received: [], answered: [], problems: ['threw ' + String(err)], transports: [] } satisfies Outcome
    }
  }))

  for (const [i, kind] of clients.entries()) {
    const out = outcomes[i]
    const plan = plans.get(kind) as Plan
    const todo = run.todo?.[kind]
    // The assertions run either way; a todo marks their failures as known.
    const known = todo === undefined ? {} : { todo }
    t.test(kind, async t => {
      const want = Array.from({ length: plan.count }, (_, n) => text(plan.room, n))
      t.equal(out.received.length, plan.count, 'every message arrived, once', known)
      t.same(out.received, want, 'in order, none lost, none twice', known)
      t.equal(new Set(out.answered).size, plan.count, 'every request answered once', known)
      t.same(out.problems, [], 'no error, close or failed request', known)
      if (kind.includes('project')) {
        const forced = kind.endsWith('websocket') ? 'websocket' : kind.endsWith('webchannel') ? 'webchannel' : 'websocket'
        t.same(out.transports, [run.transport?.[kind] ?? forced], 'one connection, never reconnected', known)
      }
    })
  }
  if (run.check !== undefined) {
    const page = await context.newPage()
    await page.goto(stack.origin + '/__deploy/page.html')
    await run.check(t, stack, page)
  }
  const errors = await stack.nginx.errorLog()
  for (const line of errors.split('\n').filter(Boolean).slice(0, 20)) t.comment('nginx: ' + line.replace(/^\S+ \S+ /, ''))
}
