import { randomBytes } from 'node:crypto'

/** 128 bits from the CSPRNG, URL-safe: unguessable and usable as a WebChannel SID. */
export function newSessionId (): string {
  return randomBytes(16).toString('base64url')
}
