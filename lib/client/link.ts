import type { TransportKind } from './types.js'

/**
 * One connection attempt over one transport. The client speaks envelopes;
 * a link only moves text one way and decoded messages the other, and reports
 * its end exactly once (before or after `open`).
 */
export interface Link {
  readonly kind: TransportKind
  send (text: string): void
  /** Close from the client side; `onClose` still runs (once) with these values. */
  close (code?: number, reason?: string): void
}

export interface LinkHandlers {
  onOpen (): void
  /** A text frame (WebSocket) or a decoded payload (WebChannel). */
  onMessage (data: unknown): void
  /**
   * The link ended. `refused` is the HTTP status (401, 403) when the server
   * refused the upgrade or a WebChannel request: no retry can cure that.
   */
  onClose (code: number, reason: string, refused?: number): void
}

/** Statuses that mean "you may not connect", as opposed to a failed network or server. */
export function isRefusal (status: number): boolean {
  return status === 401 || status === 403
}
