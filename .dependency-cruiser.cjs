// The layers of lib/, enforced in CI (`npm run lint`). Imports flow one way:
//   plugin (index.ts, options.ts, plugin/) → hub → events → session → transports → codecs
// store/ (where sessions live beyond one instance) sits beside codecs: it knows
// nothing of the layers above it, and codecs know nothing of it.
// errors.ts is the catalogue every layer may use; client/ is the browser/Node
// client and shares only the pure codecs and the event schema types.
'use strict'

const below = {
  hub: ['^lib/(index|options)\\.ts$', '^lib/plugin/'],
  events: ['^lib/(index|options)\\.ts$', '^lib/plugin/', '^lib/hub/'],
  session: ['^lib/(index|options)\\.ts$', '^lib/plugin/', '^lib/hub/', '^lib/events/'],
  transports: ['^lib/(index|options)\\.ts$', '^lib/plugin/', '^lib/hub/', '^lib/events/', '^lib/session/'],
  store: ['^lib/(index|options)\\.ts$', '^lib/plugin/', '^lib/hub/', '^lib/events/', '^lib/session/', '^lib/transports/', '^lib/codecs/'],
  codecs: ['^lib/(index|options)\\.ts$', '^lib/plugin/', '^lib/hub/', '^lib/events/', '^lib/session/', '^lib/transports/', '^lib/store/'],
}

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', from: { path: '^lib/' }, to: { circular: true } },
    ...Object.entries(below).map(([layer, upper]) => ({
      name: `${layer}-imports-down-only`,
      comment: `lib/${layer}/ may not import the layers above it`,
      severity: 'error',
      from: { path: `^lib/${layer}/` },
      to: { path: upper },
    })),
    {
      name: 'errors-is-a-leaf',
      severity: 'error',
      from: { path: '^lib/errors\\.ts$' },
      to: { path: '^lib/' },
    },
    {
      name: 'server-never-imports-client',
      severity: 'error',
      from: { path: '^lib/', pathNot: '^lib/client/' },
      to: { path: '^lib/client/' },
    },
    {
      name: 'client-shares-codecs-and-schemas-only',
      severity: 'error',
      from: { path: '^lib/client/' },
      to: { path: '^lib/', pathNot: ['^lib/client/', '^lib/codecs/', '^lib/events/schema\\.ts$'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
}
