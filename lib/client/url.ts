// Where each transport lives, from the one base URL the app gives (`{prefix}`).

/** Resolve against the page in a browser; Node needs an absolute URL. */
export function resolveBase (url: string): URL {
  const page = typeof location !== 'undefined' ? location.href : undefined
  return new URL(url, page)
}

/** `{prefix}{websocketPath}` on ws(s):, with the token as a query parameter. */
export function websocketUrl (base: URL, path: string, token: string | null, param: string, extra: Record<string, string> = {}): string {
  const u = new URL(base.href)
  u.protocol = u.protocol === 'https:' || u.protocol === 'wss:' ? 'wss:' : 'ws:'
  u.pathname = u.pathname.replace(/\/+$/, '') + path
  u.hash = ''
  if (token !== null) u.searchParams.set(param, token)
  for (const [k, v] of Object.entries(extra)) u.searchParams.set(k, v)
  return u.href
}

/** `{prefix}` on http(s): (closure's client adds its own query string). */
export function webchannelUrl (base: URL): string {
  const u = new URL(base.href)
  if (u.protocol === 'ws:') u.protocol = 'http:'
  else if (u.protocol === 'wss:') u.protocol = 'https:'
  u.hash = ''
  return u.href.replace(/\/+$/, '')
}
