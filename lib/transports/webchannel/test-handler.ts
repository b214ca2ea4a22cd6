import type { ServerResponse } from 'node:http'
import { NO_CACHE_HEADERS } from './back-channel.js'

/**
 * The legacy BrowserChannel test handler's second phase: `11111` at once and
 * `2` two seconds later, so a client that sees `11111` alone knows that
 * nothing between it and the server buffers responses (it may then stream).
 * Stateless but for the open responses, which shutdown ends.
 */
export class TestStreams {
  private readonly open = new Set<{ res: ServerResponse, timer: NodeJS.Timeout }>()

  start (res: ServerResponse, headers: Readonly<Record<string, string>>): void {
    res.writeHead(200, { ...NO_CACHE_HEADERS, ...headers })
    res.write('11111')
    const entry = {
      res,
      timer: setTimeout(() => {
        this.open.delete(entry)
        res.end('2')
      }, 2000),
    }
    this.open.add(entry)
    res.once('close', () => {
      clearTimeout(entry.timer)
      this.open.delete(entry)
    })
  }

  /** End every open test response and drop its connection. */
  endAll (): void {
    for (const t of this.open) {
      clearTimeout(t.timer)
      t.res.once('finish', () => t.res.socket?.destroy())
      t.res.end()
    }
    this.open.clear()
  }
}
