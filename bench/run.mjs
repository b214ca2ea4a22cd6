// `npm run bench`: every scenario × every server × 3 runs in one go, each run a
// fresh server process (pinned to CPU 0 when taskset exists) driven by a fresh
// load-generator process (CPU 1) over 127.0.0.1. Writes bench/results/latest.json,
// latest.md and chart.svg, prints the Markdown table, exits 1 if any run failed
// its correctness checks.
//   node bench/run.mjs [--quick] [--runs N] [--only scenario,…] [--servers id,…] [--profile]
//                      [--patch file.diff] [--out name] [--no-pin]
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildOurs, machineInfo } from './harness/build.mjs'
import { probeWebChannel, startServer, stopServer } from './harness/server-process.mjs'
import { summarize, evaluateTargets } from './harness/summary.mjs'
import { renderMarkdown } from './harness/markdown.mjs'
import { renderSvg } from './harness/chart.mjs'
import { SCENARIOS, SERVERS } from './harness/plan.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const resultsDir = join(here, 'results')

const argv = process.argv.slice(2)
const flag = (name) => argv.includes(name)
const option = (name) => {
  const i = argv.indexOf(name)
  return i === -1 ? undefined : argv[i + 1]
}
// --scale: the separate scale bench (bench/scale.mjs), many connections on one server.
if (flag('--scale')) await import('./scale.mjs')
const quick = flag('--quick')
const profile = flag('--profile')
const runs = Number(option('--runs') ?? (quick ? 1 : 3))
const only = option('--only')?.split(',')
const onlyServers = option('--servers')?.split(',')
const patch = option('--patch')
// --out name: write results/<name>.{json,md,svg} instead of latest.{json,md} and chart.svg.
const out = option('--out')
// The whole run is bounded too: past this many seconds no new measurement starts
// (the report then says how many runs each figure had).
const budgetSeconds = Number(option('--budget') ?? (quick ? 300 : 570))
const pin = !flag('--no-pin') && spawnSync('taskset', ['-c', '0', 'true']).status === 0

const started = Date.now()
const log = (msg) => process.stderr.write(`[bench ${((Date.now() - started) / 1000).toFixed(0).padStart(3)}s] ${msg}\n`)

mkdirSync(join(resultsDir, '.build'), { recursive: true })
log('building ours (esbuild, lib/ as it is now)…')
const oursScript = await buildOurs(join(resultsDir, '.build'))
const scripts = { ours: oursScript }
// --patch file.diff: also run ours with a proposed lib/ patch applied (rows "ours+patch").
if (patch !== undefined) {
  log(`building ours with ${patch} applied to a copy of lib/…`)
  scripts['ours-patched'] = await buildOurs(join(resultsDir, '.build'), { patch: join(process.cwd(), patch), name: 'ours-patched.mjs' })
}

const plan = SCENARIOS
  .filter(s => only === undefined || only.includes(s.id))
  .map(s => ({
    ...s,
    params: quick ? s.quick : s.params,
    servers: s.servers
      .flatMap(id => patch !== undefined && id.startsWith('ours') ? [id, `${id}+patch`] : [id])
      .filter(id => onlyServers === undefined || onlyServers.includes(id.replace('+patch', ''))),
  }))

// Ours over WebChannel runs only once the long-poll transport answers a handshake.
const notRun = {}
if (plan.some(s => s.servers.some(id => id.startsWith('ours-wc')))) {
  const ok = await probeWebChannel(SERVERS['ours-wc'], scripts)
  if (ok !== true) {
    for (const id of ['ours-wc', 'ours-wc-lp']) notRun[id] = notRun[`${id}+patch`] = `not run: ${ok}`
    log(`ours over WebChannel: not run: ${ok}`)
  }
}

const results = {}
const failures = []
let cutShort = null
const profileDir = join(resultsDir, 'profiles')
if (profile) mkdirSync(profileDir, { recursive: true })

for (let run = 1; run <= runs; run++) {
  for (const scenario of plan) {
    for (const id of scenario.servers) {
      const server = SERVERS[id]
      results[scenario.id] ??= {}
      const slot = results[scenario.id][id] ??= { runs: [] }
      if (notRun[id] !== undefined) {
        slot.notRun = notRun[id]
        continue
      }
      if ((Date.now() - started) / 1000 > budgetSeconds) {
        if (cutShort === null) {
          cutShort = `time budget of ${budgetSeconds} s reached during run ${run} of ${runs}: later measurements were skipped`
          log(cutShort)
        }
        continue
      }
      const t0 = Date.now()
      const extraFlags = profile && id.startsWith('ours') ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-name=${scenario.id}.${id}.run${run}.cpuprofile`] : []
      // The machine may be shared: keep the 1-minute load average next to each figure.
      const load = Math.round(loadavg()[0] * 100) / 100
      let proc
      try {
        proc = await startServer(server, scripts, { pin, extraFlags })
        const out = await runLoad({
          scenario: scenario.kind,
          proto: server.proto,
          target: { port: proc.port, ...server.target },
          control: proc.control,
          params: scenario.params,
          limitMs: scenario.limitMs,
        })
        out.loadavg = load
        slot.runs.push(out)
        log(`run ${run}/${runs} ${scenario.id.padEnd(18)} ${id.padEnd(14)} ok in ${((Date.now() - t0) / 1000).toFixed(1)}s load ${load} ${brief(scenario, out)}`)
      } catch (err) {
        slot.runs.push({ error: err.message })
        failures.push(`${scenario.id} / ${id} / run ${run}: ${err.message}`)
        log(`run ${run}/${runs} ${scenario.id.padEnd(18)} ${id.padEnd(14)} FAILED: ${err.message}`)
      } finally {
        if (proc !== undefined) await stopServer(proc)
      }
    }
  }
}

function brief (scenario, out) {
  return scenario.metrics.map(m => `${m}=${fmt(out[m])}`).join(' ')
}
function fmt (v) {
  return typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)) : String(v)
}

/** One load-generator process (pinned to the other CPU); resolves with its JSON line. */
function runLoad (job) {
  return new Promise((resolve, reject) => {
    const args = [join(here, 'load', 'loadgen.mjs'), JSON.stringify(job)]
    const child = pin
      ? spawn('taskset', ['-c', '1', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    const limit = setTimeout(() => child.kill('SIGKILL'), (job.limitMs ?? 180_000) + 10_000)
    child.on('close', (code) => {
      clearTimeout(limit)
      if (code !== 0) return reject(new Error((stderr.trim().split('\n').pop() || `load generator exited with ${code}`).slice(0, 400)))
      try {
        resolve(JSON.parse(stdout.trim().split('\n').pop()))
      } catch {
        reject(new Error(`load generator printed no result: ${stdout.slice(0, 200)}`))
      }
    })
  })
}

const summary = summarize(plan, results)
const targets = evaluateTargets(summary)
const report = {
  generatedAt: new Date().toISOString(),
  elapsedSeconds: Math.round((Date.now() - started) / 1000),
  mode: quick ? 'quick' : 'full',
  runsPerFigure: runs,
  pinned: pin,
  machine: machineInfo(),
  scenarios: plan.map(({ id, title, kind, params, metrics, chart, baselines, servers, bound }) => ({ id, title, kind, params, metrics, chart, baselines, servers, bound })),
  servers: Object.fromEntries(Object.entries(SERVERS).map(([id, s]) => [id, { label: s.label }])),
  patch: patch ?? null,
  cutShort,
  results: summary,
  targets,
  failures,
}
mkdirSync(resultsDir, { recursive: true })
const base = out ?? 'latest'
const chartFile = out === undefined ? 'chart.svg' : `${out}.svg`
writeFileSync(join(resultsDir, `${base}.json`), JSON.stringify(report, null, 2) + '\n')
const md = renderMarkdown(report, chartFile)
writeFileSync(join(resultsDir, `${base}.md`), md)
writeFileSync(join(resultsDir, chartFile), renderSvg(report))
process.stdout.write(md)
log(`done in ${report.elapsedSeconds}s; wrote bench/results/${base}.{json,md} and ${chartFile}`)
if (failures.length > 0) {
  process.stderr.write(`\n${failures.length} run(s) FAILED:\n  ${failures.join('\n  ')}\n`)
  process.exit(1)
}
process.exit(0)
