// Headless Debian Chromium (never a downloaded browser) driving the example
// chat page. Every request that is not to 127.0.0.1 is blocked.
import { chromium, type Browser, type Page } from 'playwright-core'

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
]

export function launchChromium (): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS })
}

/** What one page sent and received, as envelopes, on either transport (WebSocket resume's hello and acknowledgements aside). */
export interface PageWire { sent: unknown[], received: unknown[] }

/** WebSocket resume's own frames: `webchannel.session` (hello) and `webchannel.ack`. */
function resumeFrame (frame: { a?: unknown[] }): boolean {
  return frame.a?.[0] === 'webchannel.session' || frame.a?.[0] === 'webchannel.ack'
}

/** A page in its own context (own cookies and storage), logged in and connected. */
export async function openChat (browser: Browser, origin: string, transport: string, name: string): Promise<{ page: Page, wire: PageWire }> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 620 } })
  await context.route('**/*', (route) => new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort())
  const page = await context.newPage()
  const wire: PageWire = { sent: [], received: [] }
  page.on('websocket', ws => {
    const record = (into: unknown[]) => (f: { payload: string | Buffer }) => {
      if (typeof f.payload !== 'string') return
      const frame = JSON.parse(f.payload) as { a?: unknown[] }
      if (!resumeFrame(frame)) into.push(frame)
    }
    ws.on('framesent', record(wire.sent))
    ws.on('framereceived', record(wire.received))
  })
  page.on('request', req => {
    const body = req.postData()
    if (req.method() !== 'POST' || body === null || !req.url().includes('/channel?')) return
    for (const [k, v] of new URLSearchParams(body)) if (/^req\d+___data__$/.test(k)) wire.sent.push(JSON.parse(v))
  })
  await page.goto(`${origin}/?transport=${transport}`)
  await page.fill('#name', name)
  await page.click('#login-form button')
  await page.waitForSelector('body[data-state="open"]')
  return { page, wire }
}

export async function joinRoom (page: Page, room: string): Promise<void> {
  await page.fill('#room', room)
  await page.click('#join-form button')
  await page.waitForSelector(`#rooms li[data-room="${room}"]`)
}

export async function say (page: Page, text: string): Promise<void> {
  await page.fill('#text', text)
  await page.click('#send-form button')
}

/** Resolves when the open room shows a message with this text. */
export async function sees (page: Page, text: string): Promise<void> {
  await page.locator('#messages li', { hasText: text }).first().waitFor()
}
