// Why did a WebSocket upgrade fail? A browser does not say: the close event is
// 1006 whether the server answered 401 or the network dropped. The same URL
// fetched as a plain GET goes through the same hooks, so a hook that refuses
// the upgrade refuses it too (401/403), while an accepted GET gets 426
// (upgrade required). Cookies ride along (same-origin), the token is in the URL.
// An origin-only refusal is not seen this way: a same-origin GET carries no
// Origin header. That case falls back to WebChannel, whose POSTs carry one.

import { isRefusal } from './link.js'

/** The refusal status (401/403) for this ws(s): URL, or null when the GET was not refused (or could not be made). */
export async function probeRefusal (wsUrl: string): Promise<number | null> {
  const f = (globalThis as { fetch?: typeof fetch }).fetch
  if (f === undefined) return null
  const url = wsUrl.replace(/^ws(s?):/, 'http$1:')
  const ac = new AbortController()
  const timer = setTimeout(() => ac.abort(), 5000)
  try {
    const res = await f(url, { method: 'GET', credentials: 'same-origin', cache: 'no-store', signal: ac.signal })
    res.body?.cancel().catch(() => {})
    return isRefusal(res.status) ? res.status : null
  } catch {
    return null
  } finally {
    clearTimeout(timer)
  }
}
