// A bounded async queue of raw inbound messages, read with `for await`.

export type RawMessage = string | Buffer | Record<string, unknown>

export class Inbox implements AsyncIterable<RawMessage> {
  private readonly items: RawMessage[] = []
  private waiter: ((r: IteratorResult<RawMessage>) => void) | null = null
  private done = false
  readonly limit: number

  constructor (limit: number) {
    this.limit = limit
  }

  /** Returns false when the reader is too far behind (the caller closes the session). */
  push (item: RawMessage): boolean {
    if (this.done) return true
    if (this.waiter !== null) {
      const w = this.waiter
      this.waiter = null
      w({ value: item, done: false })
      return true
    }
    if (this.items.length >= this.limit) return false
    this.items.push(item)
    return true
  }

  end (): void {
    this.done = true
    if (this.waiter !== null) {
      const w = this.waiter
      this.waiter = null
      w({ value: undefined, done: true })
    }
  }

  [Symbol.asyncIterator] (): AsyncIterator<RawMessage> {
    return {
      next: () => {
        const item = this.items.shift()
        if (item !== undefined) return Promise.resolve({ value: item, done: false })
        if (this.done) return Promise.resolve({ value: undefined, done: true })
        return new Promise(resolve => { this.waiter = resolve })
      },
      return: () => {
        this.end()
        this.items.length = 0
        return Promise.resolve({ value: undefined, done: true })
      },
    }
  }
}
