// Builds dist/ from lib/ with tsc (tsconfig.build.json), from an empty dist/
// so files of renamed or deleted sources never reach the package.
//
//   node scripts/build.mjs             always build
//   node scripts/build.mjs --if-stale  build only when lib/ or the build
//                                      config changed since the last build
//
// `prepare` (npm ci, npm install from git, npm pack) and `npm test` use
// --if-stale, so a fresh clone builds once, not once per step.
import { spawnSync } from 'node:child_process'
import { readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dist = join(root, 'dist')
const stamp = join(dist, '.build-stamp')

/** Newest mtime of lib/ (files and folders, so a deletion counts) and the build config. */
function newestInput () {
  let newest = 0
  const visit = (p) => {
    const s = statSync(p)
    newest = Math.max(newest, s.mtimeMs)
    if (s.isDirectory()) for (const name of readdirSync(p)) visit(join(p, name))
  }
  visit(join(root, 'lib'))
  for (const f of ['tsconfig.json', 'tsconfig.build.json', 'package.json']) visit(join(root, f))
  return newest
}

function built () {
  try {
    return statSync(stamp).mtimeMs
  } catch {
    return -1
  }
}

if (process.argv.includes('--if-stale') && built() >= newestInput()) {
  console.log('dist/ is up to date with lib/')
  process.exit(0)
}

let tsc
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
} catch {
  // `npm ci --omit=dev` in a clone runs prepare without TypeScript: say so, do not fail the install.
  // (npm installs dev dependencies before it runs prepare for an install from git.)
  console.error('scripts/build.mjs: typescript is not installed, dist/ not built (install dev dependencies)')
  process.exit(process.argv.includes('--if-stale') ? 0 : 1)
}
rmSync(dist, { recursive: true, force: true })
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
if (r.status !== 0) process.exit(r.status ?? 1)
writeFileSync(stamp, new Date().toISOString() + '\n')
