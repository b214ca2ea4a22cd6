'use strict'
// neostandard: the Fastify ecosystem's lint style, with TypeScript support.
const neostandard = require('neostandard')

module.exports = [
  ...neostandard({ ts: true, ignores: ['dist/**', 'node_modules/**', 'test/fixtures/bundles/**', '.tap/**', 'bench/results/**'] }),
  {
    rules: {
      // `const X = {...} as const` with `type X = ...` is the TypeScript enum idiom.
      '@typescript-eslint/no-redeclare': 'off',
    },
  },
  {
    // A function a newcomer cannot read in one screen is split (ARCHITECTURE.md).
    files: ['lib/**/*.ts'],
    rules: {
      'max-lines-per-function': ['error', { max: 60, skipBlankLines: true, skipComments: true }],
    },
  },
]
