// Headless Chromium (Debian's /usr/bin/chromium, never a downloaded one)
// driving the real WebChannel client from a page our own test server serves.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { FastifyInstance } from 'fastify'
import { chromium, type BrowserContext, type Page } from 'playwright-core'

const here = dirname(fileURLToPath(import.meta.url))

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]

let bundle: Promise<string> | null = null

/** The page script, bundled once per process. */
export function pageScript (): Promise<string> {
  bundle ??= build({
    entryPoints: [join(here, '..', 'fixtures', 'wc-page.ts')],
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2020',
    logLevel: 'silent',
  }).then(r => r.outputFiles[0].text)
  return bundle
}

/** Serve the test page from the test's own server: `/__wc/page.html`. Call before listen. */
export async function servePage (app: FastifyInstance): Promise<void> {
  const js = await pageScript()
  app.get('/__wc/page.js', async (_req, reply) => reply.type('text/javascript').send(js))
  app.get('/__wc/page.html', async (_req, reply) => reply.type('text/html').send('<!doctype html><meta charset="utf-8"><title>wc</title><script src="/__wc/page.js"></script>'))
}

export interface BrowserSession {
  context: BrowserContext
  close (): Promise<void>
  /** A fresh page on `origin` with the harness loaded. */
  page (origin: string): Promise<Page>
}

/** A fresh browser with a fresh profile; every non-127.0.0.1 request is blocked. */
export async function launch (): Promise<BrowserSession> {
  const dir = await mkdtemp(join(tmpdir(), 'wc-chromium-'))
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  })
  // The client probes www.google.com on failures; nothing leaves the machine.
  await context.route('**/*', (route) => {
    const host = new URL(route.request().url()).hostname
    return host === '127.0.0.1' ? route.continue() : route.abort()
  })
  return {
    context,
    async close () {
      await context.close()
      await rm(dir, { recursive: true, force: true })
    },
    async page (origin: string) {
      const page = await context.newPage()
      await page.goto(origin + '/__wc/page.html')
      await page.waitForFunction(() => 'wcTest' in globalThis)
      return page
    },
  }
}

/** Events of one channel in the page. */
export type PageEvent = { type: 'open' | 'error' | 'close' } | { type: 'message', data: unknown }

export async function pageEvents (page: Page, id: number): Promise<PageEvent[]> {
  return page.evaluate((i) => (globalThis as unknown as { wcTest: { events: PageEvent[][] } }).wcTest.events[i], id)
}

/** Wait until the channel's events satisfy a count of one type. */
export async function waitForEvents (page: Page, id: number, type: PageEvent['type'], n: number, timeout = 15_000): Promise<PageEvent[]> {
  await page.waitForFunction(({ i, ty, count }) => {
    const ev = (globalThis as unknown as { wcTest: { events: Array<Array<{ type: string }>> } }).wcTest.events[i]
    return ev !== undefined && ev.filter(e => e.type === ty).length >= count
  }, { i: id, ty: type, count: n }, { timeout, polling: 20 })
  return pageEvents(page, id)
}
