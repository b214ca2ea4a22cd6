// Property runs for the codec fuzz tests: every failure names its seed and
// shrink path, and `FC_SEED=<seed> FC_PATH=<path>` replays it.
import fc from 'fast-check'
import type { Test } from 'tap'

const replaySeed = process.env.FC_SEED === undefined ? undefined : Number(process.env.FC_SEED)
const replayPath = process.env.FC_PATH

/** Check one property as one tap assertion; the message carries the seed (and, on failure, fast-check's report). */
export function property<Ts> (t: Test, name: string, prop: fc.IProperty<Ts>, numRuns: number): void {
  const details = fc.check(prop, {
    numRuns,
    ...(replaySeed !== undefined ? { seed: replaySeed } : {}),
    ...(replaySeed !== undefined && replayPath !== undefined ? { path: replayPath } : {}),
  })
  if (!details.failed) {
    t.pass(`${name} (${details.numRuns} runs, seed ${details.seed})`)
    return
  }
  const replay = `replay: FC_SEED=${details.seed} FC_PATH=${details.counterexamplePath ?? ''} npx tap ${t.fullname.split(' > ')[0] ?? ''}`
  t.fail(`${name}: ${replay}\n${fc.defaultReportMessage(details) ?? ''}`)
}

/** Throws only errors of `type` (or nothing): the codec's typed error, never a TypeError or RangeError. */
export function throwsOnly (fn: () => unknown, type: abstract new (...args: any[]) => Error): boolean {
  try {
    fn()
    return true
  } catch (err) {
    if (err instanceof type) return true
    throw err
  }
}

/** Text of every kind: astral characters, lone surrogates, U+2028/U+2029, controls. */
export const anyText = (maxLength = 64): fc.Arbitrary<string> => fc.oneof(
  fc.string({ unit: 'binary', maxLength }),
  fc.string({ unit: fc.constantFrom('\u2028', '\u2029', '😀', '\ud800', '\udfff', '\u0000', '\n', '\r', '&', '=', '%', '+', '"', '\\', 'é', '€', 'a', '_'), maxLength }),
  fc.string({ maxLength })
)

type Edit = { kind: 'delete' | 'insert' | 'replace' | 'truncate' | 'duplicate', at: number, len: number, text: string }

const edit: fc.Arbitrary<Edit> = fc.record({
  kind: fc.constantFrom('delete', 'insert', 'replace', 'truncate', 'duplicate'),
  at: fc.nat(),
  len: fc.integer({ min: 1, max: 8 }),
  text: anyText(4),
})

function apply (s: string, e: Edit): string {
  const at = s.length === 0 ? 0 : e.at % (s.length + 1)
  switch (e.kind) {
    case 'delete': return s.slice(0, at) + s.slice(at + e.len)
    case 'insert': return s.slice(0, at) + e.text + s.slice(at)
    case 'replace': return s.slice(0, at) + e.text + s.slice(at + e.text.length)
    case 'truncate': return s.slice(0, at)
    case 'duplicate': return s.slice(0, at + e.len) + s.slice(at)
  }
}

/** Valid inputs from `valid`, then one to four random edits (delete, insert, replace, truncate, duplicate). */
export function mutated (valid: fc.Arbitrary<string>): fc.Arbitrary<string> {
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: 4 })).map(([s, edits]) => edits.reduce(apply, s))
}
