/**
 * `npm run bench:instructions`: instructions per warm decision, counted by callgrind — a figure
 * that two runs on a noisy machine agree on, where HTTP throughput wanders by several percent.
 *
 * The worker (bench/instructions-worker.ts) is bundled once with esbuild, then each variant
 * runs in its own process, `valgrind --tool=callgrind node --predictable <bundle> <variant> N`
 * (`--predictable`: V8 single-threaded, with deterministic garbage collection and tiering;
 * `--expose-gc`, for the collections the worker forces between stretches). The worker warms
 * up, then makes N and then 2N more decisions through the public middleware; callgrind writes
 * out its count at each of those points (`DUMP_TRIGGER`), so one process gives I(N) and I(3N),
 * the instructions from its start to the end of decision N and of decision 3N.
 * The marginal cost of a decision, (I(3N) − I(N)) / 2N, leaves out start-up, set-up, warm-up
 * and exit, which are the same at both lengths.
 *
 * Options: --runs=<k> (1; 3 to check that runs agree), --iterations=<N> (20000),
 * --jobs=<j> (processes at a time: 2, or 1 on one core), --functions[=<variant,…>] (profile
 * those variants, or all, in one more process each and print their costliest functions between
 * decisions N and 3N, per decision, JavaScript included), --cache-sim (callgrind also simulates
 * a data cache, {@link CACHE_MODEL}, and the table gains the last-level read misses per decision:
 * what a decision brings in from memory, which instructions do not show), --keep (keep the
 * callgrind files and print where they are).
 * Environment: BENCH_ONLY (comma-separated variant ids; such a partial run is not written to the
 * results file), BENCH_CREDENTIALS (10000), BENCH_DECISIONS_PER_SECOND (30000),
 * BENCH_WARMUP_PASSES (3), BENCH_FLUSH_INTERVAL_MS (60000), REDIS_URL.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  bundleScript,
  CACHE_MODEL,
  eventTotal,
  functionNamer,
  readCallgrindFile,
  readProfile,
  valgrindVersion,
} from './support/callgrind.js'
import {
  DUMP_TRIGGER,
  DUMPS_PER_RUN,
  FRAMEWORKS,
  type Framework,
  KIND_LABELS,
  KINDS,
  type Kind,
  type WorkerReport,
} from './support/instruction-variants.js'
import { describeMachine } from './support/machine.js'
import { connectRedis, deleteByPrefix } from './support/redis.js'
import { markdownTable, publishResults } from './support/results-file.js'
import { fixed, grouped, median, signed, times } from './support/stats.js'

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    iterations: { type: 'string', default: process.env.BENCH_ITERATIONS ?? '20000' },
    jobs: { type: 'string', default: String(Math.min(2, availableParallelism())) },
    functions: { type: 'string' },
    'cache-sim': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
  },
  strict: true,
  allowPositionals: false,
  // `--functions` alone means every variant that runs.
  args: process.argv.slice(2).map((arg) => (arg === '--functions' ? '--functions=' : arg)),
})

const RUNS = Number(flags.runs)
const N = Number(flags.iterations)
const JOBS = Number(flags.jobs)
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`--runs must be ≥ 1 (got ${flags.runs})`)
if (!Number.isInteger(N) || N < 1) throw new Error(`--iterations must be ≥ 1 (got ${N})`)
if (!Number.isInteger(JOBS) || JOBS < 1) throw new Error(`--jobs must be ≥ 1 (got ${JOBS})`)
const ONLY = process.env.BENCH_ONLY?.split(',').map((id) => id.trim())
const FUNCTIONS =
  flags.functions === undefined
    ? undefined
    : flags.functions === ''
      ? 'all'
      : flags.functions.split(',').map((id) => id.trim())
const CACHE_SIM = flags['cache-sim'] === true
/** Rows of each breakdown printed by --functions. */
const TOP_FUNCTIONS = 25

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const RUN_TAG = randomBytes(4).toString('hex')
const REDIS_PREFIX = `portcullis-bench-instructions:${RUN_TAG}:`

interface VariantId {
  readonly id: string
  readonly framework: Framework
  readonly kind: Kind
}

/** Every variant, the framework's rows together, in the order of `KINDS`. */
const ALL_VARIANTS: readonly VariantId[] = FRAMEWORKS.flatMap((framework) =>
  KINDS.map((kind) => ({ id: `${framework}-${kind}`, framework, kind })),
)

/** The costliest set-ups first, so that two processes at a time finish close together. */
const SETUP_ORDER: readonly Kind[] = [
  'session-redis',
  'session-memory',
  'restricted',
  'secret',
  'publishable-origins',
  'publishable',
  'toy',
  'noop',
]

// ---------------------------------------------------------------------------------------------
// Tools

// ---------------------------------------------------------------------------------------------
// One process under callgrind

interface Measurement {
  readonly variant: VariantId
  readonly run: number
  readonly report: WorkerReport
  /** Instructions from the start of the process to the end of the warm-up. */
  readonly warm: number
  readonly iN: number
  readonly i3N: number
  /** (I(3N) − I(N)) / 2N */
  readonly perDecision: number
  /** With --cache-sim, last-level data read misses per decision over the same stretch (else NaN). */
  readonly llReadMisses: number
  readonly seconds: number
  readonly pid: number
  /** The callgrind file covering decisions N+1…3N. */
  readonly segmentFile: string
}

function runUnderCallgrind(
  variant: VariantId,
  run: number,
  bundle: string,
  directory: string,
  nodeFlags: readonly string[] = [],
): Promise<Measurement> {
  const outFile = join(directory, `${variant.id}.${run === 0 ? 'profile' : `run${run}`}.callgrind`)
  const prefix = `${REDIS_PREFIX}${variant.id}:${run}:`
  const args = [
    '--tool=callgrind',
    `--callgrind-out-file=${outFile}`,
    `--dump-before=${DUMP_TRIGGER}`,
    ...(CACHE_SIM
      ? ['--cache-sim=yes', `--D1=${CACHE_MODEL.D1.join(',')}`, `--LL=${CACHE_MODEL.LL.join(',')}`]
      : []),
    process.execPath,
    '--predictable',
    '--expose-gc',
    ...nodeFlags,
    bundle,
    variant.id,
    String(N),
  ]
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const child = spawn('valgrind', args, {
      cwd: ROOT,
      env: { ...process.env, BENCH_REDIS_PREFIX: prefix },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-20_000)
    })
    child.on('error', reject)
    child.on('close', (code) => {
      const seconds = (performance.now() - started) / 1000
      const finish = async (): Promise<Measurement> => {
        if (variant.kind === 'session-redis') await cleanRedis(prefix)
        if (code !== 0) {
          const program = stderr
            .split('\n')
            .filter((line) => !/^==\d+==/.test(line))
            .join('\n')
          throw new Error(`${variant.id} (run ${run}) exited with ${code}:\n${program.trim()}`)
        }
        const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as WorkerReport
        const parts = Array.from({ length: DUMPS_PER_RUN }, (_, i) => `${outFile}.${i + 1}`)
        if (
          !parts.every((part) => existsSync(part)) ||
          existsSync(`${outFile}.${DUMPS_PER_RUN + 1}`)
        ) {
          throw new Error(
            `${variant.id}: callgrind did not write exactly ${DUMPS_PER_RUN} dumps (did something else call ${DUMP_TRIGGER}?)`,
          )
        }
        const files = parts.map(readCallgrindFile)
        const totals = files.map((file) => file.totals)
        const [warm, first, second] = totals.map((counts, i) =>
          eventTotal(counts, 'Ir', parts[i] as string),
        ) as [number, number, number]
        for (const [index, segment] of report.segments.entries()) {
          if (segment.accepted !== segment.decisions) {
            throw new Error(
              `${variant.id}: ${segment.decisions - segment.accepted} of ${segment.decisions} measured decisions (stretch ${index + 1}) were refused`,
            )
          }
        }
        return {
          variant,
          run,
          report,
          warm,
          iN: warm + first,
          i3N: warm + first + second,
          perDecision: second / (2 * N),
          llReadMisses: CACHE_SIM
            ? eventTotal(totals[2] as ReadonlyMap<string, number>, 'DLmr', parts[2] as string) /
              (2 * N)
            : Number.NaN,
          seconds,
          pid: files[2]?.pid ?? Number.NaN,
          segmentFile: parts[2] as string,
        }
      }
      finish().then(resolve, reject)
    })
  })
}

let redisCleaner: Awaited<ReturnType<typeof connectRedis>> | undefined
async function cleanRedis(prefix: string): Promise<void> {
  redisCleaner ??= await connectRedis('bench:instructions cleanup')
  await deleteByPrefix(redisCleaner, prefix)
}

// ---------------------------------------------------------------------------------------------
// Per-function breakdown (--functions)

/**
 * Profiles one variant in a process of its own (`--perf-basic-prof` adds work whenever V8
 * generates code, so it is kept out of the measured runs) and prints its costliest functions
 * between decisions N and 3N.
 */
async function profileVariant(variant: VariantId, bundle: string, directory: string) {
  const measurement = await runUnderCallgrind(variant, 0, bundle, directory, ['--perf-basic-prof'])
  const perfMap = `/tmp/perf-${measurement.pid}.map`
  try {
    const profile = readProfile(measurement.segmentFile, functionNamer(perfMap, bundle))
    const decisions = 2 * N
    const ir = profile.events.indexOf('Ir')
    const total = profile.total[ir] as number
    const top = (map: ReadonlyMap<string, readonly number[]>) =>
      [...map]
        .map(([name, costs]): [string, number] => [name, costs[ir] as number])
        // Frames that enclose the whole loop (event loop, microtask queue, the loop itself).
        .filter(([, instructions]) => instructions < 0.99 * total)
        .sort((a, b) => b[1] - a[1])
        .slice(0, TOP_FUNCTIONS)
        .map(([name, instructions]) => {
          const shown = name.length > 160 ? `${name.slice(0, 157)}…` : name
          return `  ${fixed(instructions / decisions, 1).padStart(9)} ${fixed((100 * instructions) / total, 1).padStart(5)} %  ${shown}`
        })
    console.log(
      [
        `\n${variant.id}: profile of decisions ${grouped(N + 1)}…${grouped(3 * N)} (a separate process with --perf-basic-prof), ${fixed(total / decisions, 1)} instructions per decision`,
        '  per decision, % of the total — self (in the function itself; JS: name, source file):',
        ...top(profile.self),
        '  inclusive (with what it calls; frames enclosing the whole loop left out):',
        ...top(profile.inclusive),
        `  (callgrind file: ${measurement.segmentFile}${flags.keep ? `, V8's code map ${perfMap}` : ', removed at the end; --keep keeps it'})`,
      ].join('\n'),
    )
  } finally {
    if (!flags.keep) rmSync(perfMap, { force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// The report

const FRAMEWORK_LABELS: Readonly<Record<Framework, string>> = { express: 'Express', koa: 'Koa' }

function spread(values: readonly number[]): number {
  return (Math.max(...values) - Math.min(...values)) / median(values)
}

function percent(value: number): string {
  return `${fixed(100 * value, 2)} %`
}

function report(
  byVariant: ReadonlyMap<string, readonly Measurement[]>,
  variants: readonly VariantId[],
  machine: string,
  minutes: number,
): string {
  /** The run whose marginal count is the median of the variant's runs. */
  const representative = (id: string): Measurement | undefined => {
    const runs = [...(byVariant.get(id) ?? [])].sort((a, b) => a.perDecision - b.perDecision)
    return runs[Math.floor((runs.length - 1) / 2)]
  }
  const rows = variants.map((variant) => {
    const chosen = representative(variant.id)
    if (chosen === undefined) throw new Error(`no measurement of ${variant.id}`)
    const toy = representative(`${variant.framework}-toy`)?.perDecision ?? Number.NaN
    const noop = representative(`${variant.framework}-noop`)?.perDecision ?? Number.NaN
    const [first, second] = chosen.report.segments
    const own = chosen.perDecision - noop
    const toyMisses = representative(`${variant.framework}-toy`)?.llReadMisses ?? Number.NaN
    const misses = CACHE_SIM
      ? [
          fixed(chosen.llReadMisses, 2),
          variant.kind === 'toy' ? '' : signed(chosen.llReadMisses - toyMisses, 2),
        ]
      : []
    return [
      FRAMEWORK_LABELS[variant.framework],
      KIND_LABELS[variant.kind],
      grouped(chosen.iN),
      grouped(chosen.i3N),
      grouped(chosen.perDecision),
      times(chosen.perDecision / toy),
      variant.kind === 'noop' ? '' : grouped(own),
      variant.kind === 'noop' ? '' : times(own / (toy - noop)),
      `${first.storeCalls + second.storeCalls} / ${first.flushes + second.flushes}`,
      ...misses,
    ]
  })
  const table = markdownTable(
    [
      'framework',
      'variant',
      'I(N)',
      'I(3N)',
      'instructions per decision',
      '× toy',
      'above the no-op',
      '× toy, above the no-op',
      'store calls / usage flushes in 3N',
      ...(CACHE_SIM ? ['last-level read misses', 'last-level read misses − toy'] : []),
    ],
    rows,
    `llrrrrrrr${CACHE_SIM ? 'rr' : ''}`,
  )
  const [l1Bytes, l1Ways] = CACHE_MODEL.D1
  const [llBytes, llWays] = CACHE_MODEL.LL
  const cacheNote = CACHE_SIM
    ? `
With \`--cache-sim\`, callgrind also simulated a data cache: a ${l1Bytes / 1024} KiB ${l1Ways}-way first
level and a ${llBytes / 1024} KiB ${llWays}-way last level (this machine's first and per-core second
level), 64-byte lines; the last two columns are the data reads per decision that missed the
last level, over the same stretch as the instructions, and how many more than the toy's. A
last-level miss is a read from a shared cache or from memory, tens to hundreds of cycles
that no instruction count shows: with 10,000 keys, each cache line of per-key data a
decision reads is likely one. The simulation is of this in-process loop, whose other
traffic is much smaller than an HTTP server's, so the figures are a floor and a comparison,
not a prediction.
`
    : ''

  let repeat = ''
  if (RUNS > 1) {
    const runHeads = Array.from({ length: RUNS }, (_, i) => `run ${i + 1}`)
    const repeatRows = variants.map((variant) => {
      const runs = [...(byVariant.get(variant.id) ?? [])].sort((a, b) => a.run - b.run)
      return [
        `${FRAMEWORK_LABELS[variant.framework]} ${variant.kind}`,
        ...runs.map((m) => fixed(m.perDecision, 1)),
        percent(spread(runs.map((m) => m.perDecision))),
      ]
    })
    const spreads = variants.map((variant) => ({
      id: variant.id,
      spread: spread((byVariant.get(variant.id) ?? []).map((m) => m.perDecision)),
    }))
    const widest = spreads.reduce((a, b) => (b.spread > a.spread ? b : a))
    repeat = `
Repeatability: ${RUNS} runs of every variant, each a fresh process with fresh random
credentials. "Spread" is (highest − lowest) ÷ median of the instructions per decision; the
widest is ${percent(widest.spread)} (${widest.id}).

${markdownTable(['variant', ...runHeads, 'spread'], repeatRows, `l${'r'.repeat(RUNS)}r`)}
`
  }

  const any = [...byVariant.values()][0]?.[0]
  const warmup = any?.report.warmupDecisions ?? Number.NaN
  return `## Instructions per decision (\`npm run bench:instructions\`)

${machine}

Each variant runs in its own process under \`valgrind --tool=callgrind\`, as
\`node --predictable\` (V8 single-threaded, deterministic garbage collection and tiering), and
drives every decision in-process through the public Express or Koa middleware with minimal
request and response objects (Koa: a minimal context) — no sockets, no HTTP parsing, no
router. Like \`npm run bench\`, each credential-checking variant holds 10,000 distinct
credentials presented in turn, and secret and restricted keys each carry their own three-entry
IP allowlist; portcullis runs from source, through its public API, with default options
(bundled by esbuild). After ${grouped(warmup)} warm-up decisions come N = ${grouped(N)} and then 2N more;
callgrind writes out its count at each point, so I(N) and I(3N) are the instructions from
the process's start to the end of decision N and of decision 3N. **Instructions per
decision** = (I(3N) − I(N)) / 2N: start-up, set-up, warm-up and exit cancel out. Before
decision 1 the worker forces two full collections and before decision N+1 a scavenge
(\`--expose-gc\`; counted before those points), so every stretch starts from the same heap and
holds only the collections its own allocations cause: otherwise whether one more scavenge
(worth hundreds of decisions) fell into the stretch moved the count by up to 5 % between
runs. The gate's
(and the store's) clock advances ${fixed(1000 / Number(process.env.BENCH_DECISIONS_PER_SECOND ?? 30_000), 3)} ms per decision (${grouped(Number(process.env.BENCH_DECISIONS_PER_SECOND ?? 30_000))}
decisions per second), not with the wall clock, which callgrind slows about 50×. "× toy" is
the ratio to the hand-written SHA-256→Map middleware on the same framework (one-shot
\`crypto.hash\`, as portcullis hashes); "above the no-op" subtracts the no-op middleware, i.e.
the harness loop, the request objects and the framework's calling convention, leaving what the
middleware itself adds. The last column shows the decisions counted were warm: no store call
and no usage flush among decisions 1…3N. Where runs were repeated, the table shows the run with
the median count.

${table}
${cacheNote}${repeat}
Not captured: I/O (a Redis round trip, when a cache entry expires or a session is touched,
costs system calls and another process's work), the framework's own work outside the
middleware (HTTP parsing, routing, writing the response), periodic work that falls outside
the measured ${fixed((2 * N) / Number(process.env.BENCH_DECISIONS_PER_SECOND ?? 30_000), 1)} simulated seconds (cache refreshes every 5–30 s, session touches every
60 s, usage flushes every 60 s), and how long an instruction takes (cache misses, branch
mispredictions). The whole run took ${fixed(minutes, 1)} minutes, ${JOBS} process${JOBS === 1 ? '' : 'es'} at a time.
`
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const variants = ALL_VARIANTS.filter((variant) => ONLY === undefined || ONLY.includes(variant.id))
  if (variants.length === 0) throw new Error(`BENCH_ONLY matched no variant: ${ONLY}`)
  const unknown = Array.isArray(FUNCTIONS)
    ? FUNCTIONS.filter((id) => !variants.some((variant) => variant.id === id))
    : []
  if (unknown.length > 0) {
    throw new Error(
      `--functions: ${unknown.join(', ')} not among the variants that run (${variants.map((v) => v.id).join(', ')})`,
    )
  }
  const valgrind = valgrindVersion()
  const directory = mkdtempSync(join(tmpdir(), 'portcullis-instructions-'))
  const started = performance.now()
  // Before bundling: the source revision it names is the one measured, even if a commit lands
  // while the run goes on.
  const machine = describeMachine([valgrind])
  try {
    const bundle = await bundleScript('bench/instructions-worker.ts', directory)
    const bySetup = [...variants].sort(
      (a, b) => SETUP_ORDER.indexOf(a.kind) - SETUP_ORDER.indexOf(b.kind),
    )
    // Run 0 is a profile run (--functions), in a process of its own.
    const profiled = bySetup.filter(
      (variant) => FUNCTIONS === 'all' || (FUNCTIONS?.includes(variant.id) ?? false),
    )
    const tasks = [
      ...profiled.map((variant) => ({ variant, run: 0 })),
      ...Array.from({ length: RUNS }, (_, i) => i + 1).flatMap((run) =>
        bySetup.map((variant) => ({ variant, run })),
      ),
    ]
    console.log(
      `${tasks.length} callgrind processes (${variants.length} variants × ${RUNS} run${RUNS === 1 ? '' : 's'}${profiled.length > 0 ? ` + ${profiled.length} profile run${profiled.length === 1 ? '' : 's'}` : ''}), N = ${grouped(N)}, ${JOBS} at a time; ${valgrind}`,
    )
    const byVariant = new Map<string, Measurement[]>(variants.map((v) => [v.id, []]))
    let next = 0
    const worker = async () => {
      while (next < tasks.length) {
        const task = tasks[next++]
        if (task === undefined) break
        if (task.run === 0) {
          await profileVariant(task.variant, bundle, directory)
          continue
        }
        const measurement = await runUnderCallgrind(task.variant, task.run, bundle, directory)
        byVariant.get(task.variant.id)?.push(measurement)
        const [first, second] = measurement.report.segments
        console.log(
          `${task.variant.id.padEnd(28)} run ${task.run}/${RUNS}` +
            `  I(N) ${grouped(measurement.iN).padStart(14)}  I(3N) ${grouped(measurement.i3N).padStart(14)}` +
            `  ${fixed(measurement.perDecision, 1).padStart(8)} instructions/decision` +
            (CACHE_SIM ? `  ${fixed(measurement.llReadMisses, 2)} LL read misses` : '') +
            `  store calls ${first.storeCalls + second.storeCalls}  ${fixed(measurement.seconds, 0)} s`,
        )
      }
    }
    await Promise.all(Array.from({ length: Math.min(JOBS, tasks.length) }, worker))

    const minutes = (performance.now() - started) / 60_000
    const markdown = report(byVariant, variants, machine, minutes)
    publishResults('instructions', markdown, ONLY !== undefined)
  } finally {
    if (flags.keep) console.log(`callgrind files kept in ${directory}`)
    else rmSync(directory, { recursive: true, force: true })
    if (redisCleaner !== undefined) {
      await deleteByPrefix(redisCleaner, REDIS_PREFIX)
      await redisCleaner.quit()
    }
  }
}

await main()
