/** A channel name or pattern: `*` matches any run of characters (`room:*`). */
export interface ChannelPattern {
  readonly source: string
  readonly exact: boolean
  test (name: string): boolean
}

export function compilePattern (source: string): ChannelPattern {
  if (!source.includes('*')) return { source, exact: true, test: (name) => name === source }
  const escaped = source.split('*').map(s => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')
  const re = new RegExp('^' + escaped + '$')
  return { source, exact: false, test: (name) => re.test(name) }
}

/** Exact names first, then patterns in registration order. */
export class PatternTable<T> {
  private readonly exact = new Map<string, T>()
  private readonly patterns: Array<{ pattern: ChannelPattern, value: T }> = []

  has (source: string): boolean {
    return this.exact.has(source) || this.patterns.some(p => p.pattern.source === source)
  }

  set (source: string, value: T): void {
    const p = compilePattern(source)
    if (p.exact) this.exact.set(source, value)
    else this.patterns.push({ pattern: p, value })
  }

  /** The value registered under exactly this source string. */
  getSource (source: string): T | undefined {
    return this.exact.get(source) ?? this.patterns.find(p => p.pattern.source === source)?.value
  }

  match (name: string): T | undefined {
    const v = this.exact.get(name)
    if (v !== undefined) return v
    for (const p of this.patterns) if (p.pattern.test(name)) return p.value
    return undefined
  }

  get size (): number { return this.exact.size + this.patterns.length }

  /** Every source with its value: exact names first, then patterns in registration order. */
  * entries (): IterableIterator<[string, T]> {
    yield * this.exact.entries()
    for (const p of this.patterns) yield [p.pattern.source, p.value]
  }
}
