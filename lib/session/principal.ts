/**
 * Apps name their principal's type once, by declaration merging, and every
 * session, context and authorize hook sees it without casts:
 *
 *   declare module 'fastify-webchannel' {
 *     interface PrincipalRegistry { principal: { id: string, name: string } }
 *   }
 */

export interface PrincipalRegistry {}

/** The app's principal type (see PrincipalRegistry), or unknown. */
export type Principal = PrincipalRegistry extends { principal: infer P } ? P : unknown

/**
 * The identity of a principal, the one definition of "the same caller" used
 * for session ownership (a WebChannel SID is honoured only for the principal
 * that opened it) and for per-principal session caps. null: no principal.
 * A string or number is itself; an object with a string or number `id` is
 * that id (so a token refreshed mid-session still names the same user); any
 * other object is its JSON.
 */
export function principalKey (p: unknown): string | null {
  if (p === null || p === undefined) return null
  if (typeof p === 'string') return 's:' + p
  if (typeof p === 'number') return 's:' + String(p)
  if (typeof p === 'object' && 'id' in p && (typeof p.id === 'string' || typeof p.id === 'number')) return 'id:' + String(p.id)
  try {
    return 'j:' + JSON.stringify(p)
  } catch {
    return null
  }
}

/** The default `samePrincipal` option: equal identities (see principalKey); two absent principals match. */
export function samePrincipal (a: unknown, b: unknown): boolean {
  if (a === b) return true
  const ka = principalKey(a)
  return ka !== null && ka === principalKey(b)
}
