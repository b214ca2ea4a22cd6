export function nowMs (): number
export function tickPayload (q: number, size: number, sentAt?: number): { q: number, t: number, p: string }
export function ready (options: {
  port: number
  emit: (payload: { q: number, t: number, p: string }) => void
  conns: () => number
}): Promise<void>
