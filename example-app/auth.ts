// Stateless tokens (`<base64url name>.<hmac>`), so a restarted server still
// accepts the tokens its previous run issued when it keeps the same secret.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { FastifyRequest } from 'fastify'

export interface User { name: string }

export function newSecret (): string {
  return randomBytes(32).toString('base64url')
}

export function issueToken (secret: string, name: string): string {
  const body = Buffer.from(name, 'utf8').toString('base64url')
  return body + '.' + sign(secret, body)
}

export function verifyToken (secret: string, token: string): User | null {
  const dot = token.indexOf('.')
  if (dot <= 0) return null
  const body = token.slice(0, dot)
  const mac = Buffer.from(token.slice(dot + 1), 'base64url')
  const want = Buffer.from(sign(secret, body), 'base64url')
  if (mac.length !== want.length || !timingSafeEqual(mac, want)) return null
  return { name: Buffer.from(body, 'base64url').toString('utf8') }
}

function sign (secret: string, body: string): string {
  return createHmac('sha256', secret).update(body).digest('base64url')
}

/** The token from `Authorization: Bearer`, the `token` query parameter, or the `token` cookie. */
export function tokenOf (request: FastifyRequest): string | null {
  const auth = request.headers.authorization
  if (typeof auth === 'string' && auth.startsWith('Bearer ')) return auth.slice(7).trim()
  const q = (request.query as Record<string, unknown> | undefined)?.token
  if (typeof q === 'string' && q !== '') return q
  const cookie = request.headers.cookie
  if (typeof cookie === 'string') {
    for (const part of cookie.split(';')) {
      const eq = part.indexOf('=')
      if (eq !== -1 && part.slice(0, eq).trim() === 'token') {
        try {
          return decodeURIComponent(part.slice(eq + 1).trim())
        } catch {
          return null
        }
      }
    }
  }
  return null
}
