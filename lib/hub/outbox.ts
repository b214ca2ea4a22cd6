import type { DropReason } from './adapter.js'

/** Bounds of the buffer that holds cross-instance messages while the bus is down. */
export interface BufferOptions {
  /** Messages held at most; the oldest go first beyond it. Default 1000. */
  count?: number
  /** Bytes (UTF-8) held at most; the oldest go first beyond it. Default 1048576 (1 MiB). */
  bytes?: number
  /** A message older than this (ms) is given up. Default 30000. */
  age?: number
}

export const BUFFER_DEFAULTS: Required<BufferOptions> = { count: 1000, bytes: 1048576, age: 30000 }

interface Held { text: string, bytes: number, at: number }

/**
 * A bounded FIFO of messages for the bus. Beyond a bound the oldest messages
 * are given up, and what was given up is returned for the caller to count.
 */
export class Outbox {
  readonly bounds: Required<BufferOptions>
  private items: Held[] = []
  private head = 0
  bytes = 0

  constructor (bounds: BufferOptions = {}) {
    this.bounds = { ...BUFFER_DEFAULTS, ...bounds }
  }

  get size (): number {
    return this.items.length - this.head
  }

  /** Hold one message; returns what had to be given up to stay within the bounds. */
  push (text: string, now: number): Array<[DropReason, number]> {
    const drops: Array<[DropReason, number]> = []
    const aged = this.expire(now)
    if (aged > 0) drops.push(['age', aged])
    const bytes = Buffer.byteLength(text)
    if (this.bounds.count === 0 || bytes > this.bounds.bytes) {
      drops.push([this.bounds.count === 0 ? 'count' : 'bytes', 1])
      return drops
    }
    let byCount = 0
    let byBytes = 0
    while (this.size >= this.bounds.count) { this.shift(); byCount++ }
    while (this.bytes + bytes > this.bounds.bytes) { this.shift(); byBytes++ }
    if (byCount > 0) drops.push(['count', byCount])
    if (byBytes > 0) drops.push(['bytes', byBytes])
    this.items.push({ text, bytes, at: now })
    this.bytes += bytes
    return drops
  }

  /** Give up messages older than the age bound; returns how many. */
  expire (now: number): number {
    let n = 0
    while (this.size > 0 && now - this.items[this.head].at > this.bounds.age) { this.shift(); n++ }
    return n
  }

  /** Everything held, oldest first; the outbox is empty afterwards. */
  take (): string[] {
    const out = this.items.slice(this.head).map(h => h.text)
    this.items = []
    this.head = 0
    this.bytes = 0
    return out
  }

  private shift (): void {
    this.bytes -= this.items[this.head].bytes
    this.head++
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}
