import { readFile } from 'node:fs/promises'
import t from 'tap'

// The README's example is type-checked as test/fixtures/readme-example.ts
// (npm run typecheck); this keeps the two from drifting apart.
t.test('the README example is the type-checked fixture', async t => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8')
  const block = readme.split('## Example: a typed chat in about twenty lines')[1].split('```ts\n')[1].split('```')[0]
  const fixture = await readFile(new URL('./fixtures/readme-example.ts', import.meta.url), 'utf8')
  t.equal(block, fixture)
})
