/**
 * `npm run bench:http-instructions`: what a whole HTTP server spends per request, counted by
 * callgrind with its cache simulation — instructions, and the instruction and data fetches that
 * miss each simulated cache level — for the toy and the key guards of `npm run bench`, each over
 * real sockets with 10,000 credentials.
 *
 * `npm run bench:instructions` counts one decision in-process, through the middleware alone: it
 * does not see what a guard costs the framework and Node around it (reading the socket's
 * address through Node's getters, say) or how much machine code a request runs through, which
 * is what the instruction cache sees. This command runs the same servers as `npm run bench`
 * (bench/variants.ts), one per process under `valgrind --tool=callgrind --cache-sim=yes`
 * (`node --predictable`, bundled by esbuild, on a clock slowed to callgrind's pace: see
 * bench/support/http-instructions-server.ts). This process is the client, natively: 50
 * keep-alive connections present every credential once (the pass that fills the caches), then
 * `--warmup` more requests; callgrind then writes its counts out and starts again from zero, and
 * the measured `--requests` follow, each answered 200. The counts of that stretch, divided by
 * its requests, are the table. V8 still compiles after the pass (with `--predictable`, on the
 * main thread, so counted): 5,000 requests of warm-up left twice as much of it in the measured
 * stretch as 10,000 did.
 *
 * The collector's share is counted apart (every call into V8's garbage collector, with what it
 * calls): whether a collection falls into the measured stretch can move a whole server's count
 * by several percent, so the instructions outside it are what two servers compare on.
 *
 * Options: --requests=<M> (10000), --warmup=<W> (10000), --jobs=<j> (servers at a time: 2, or 1
 * on one core), --keep (keep the callgrind files), --functions (start the servers with
 * `--perf-basic-prof`, which names V8's generated code, and print, for each server beside its
 * toy, the functions whose own instructions per request differ most). Environment: BENCH_ONLY
 * (comma-separated variant ids of `npm run bench`, MemoryStore ones; default the toys and the
 * key guards of both frameworks; a partial run is not written to the results file),
 * BENCH_TIME_SCALE (150).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import {
  bundleScript,
  CACHE_MODEL,
  COLLECTOR,
  eventTotal,
  functionNamer,
  type Profile,
  readCallgrindFile,
  readProfile,
  valgrindVersion,
} from './support/callgrind.js'
import { DUMP_TRIGGER } from './support/instruction-variants.js'
import { describeMachine } from './support/machine.js'
import { markdownTable, publishResults } from './support/results-file.js'
import { fixed, grouped, signed } from './support/stats.js'
import { VARIANTS, type Variant } from './variants.js'

const { values: flags } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    warmup: { type: 'string', default: '10000' },
    jobs: { type: 'string', default: String(Math.min(2, availableParallelism())) },
    keep: { type: 'boolean', default: false },
    functions: { type: 'boolean', default: false },
  },
  strict: true,
  allowPositionals: false,
})
const REQUESTS = Number(flags.requests)
const WARMUP = Number(flags.warmup)
const JOBS = Number(flags.jobs)
const TIME_SCALE = Number(process.env.BENCH_TIME_SCALE ?? 150)
if (!Number.isInteger(REQUESTS) || REQUESTS < 1) {
  throw new Error(`--requests must be a positive whole number (got ${flags.requests})`)
}
if (!Number.isInteger(WARMUP) || WARMUP < 0) {
  throw new Error(`--warmup must be a whole number (got ${flags.warmup})`)
}
if (!Number.isInteger(JOBS) || JOBS < 1) throw new Error(`--jobs must be ≥ 1 (got ${flags.jobs})`)
if (!(TIME_SCALE >= 1)) throw new Error(`BENCH_TIME_SCALE must be ≥ 1 (got ${TIME_SCALE})`)

const CONNECTIONS = 50
const DEFAULT_VARIANTS = [
  'express-toy',
  'express-secret',
  'express-publishable',
  'koa-toy',
  'koa-secret',
  'koa-publishable',
]
const ONLY = process.env.BENCH_ONLY?.split(',').map((id) => id.trim())
const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** The events read per request, with their column headings. */
const EVENTS = [
  ['Ir', 'instructions'],
  ['I1mr', 'I1 misses'],
  ['ILmr', 'LL instruction misses'],
  ['D1mr', 'D1 read misses'],
  ['DLmr', 'LL data read misses'],
] as const
type EventName = (typeof EVENTS)[number][0]

interface Measurement {
  readonly variant: Variant
  readonly perRequest: ReadonlyMap<EventName, number>
  /** Instructions per request in V8's garbage collector ({@link COLLECTOR}). */
  readonly collector: number
  /** Each function's own costs over the measured requests (`--functions` only). */
  readonly profile: Profile | undefined
  readonly seconds: number
}

/** Rows of each server's comparison with its toy printed by `--functions`. */
const TOP_FUNCTIONS = 20

function chosenVariants(): Variant[] {
  const ids = ONLY ?? DEFAULT_VARIANTS
  const variants = ids.map((id) => {
    const variant = VARIANTS.find((candidate) => candidate.id === id)
    if (variant === undefined) {
      throw new Error(
        `BENCH_ONLY: no variant ${id} (known: ${VARIANTS.map((v) => v.id).join(', ')})`,
      )
    }
    if (/redis/i.test(variant.label)) {
      throw new Error(`BENCH_ONLY: ${id} needs Redis; this command runs the MemoryStore variants`)
    }
    return variant
  })
  const toys = new Set(variants.filter((v) => v.id.endsWith('-toy')).map((v) => v.framework))
  const missing = variants.find((v) => !toys.has(v.framework))
  if (missing !== undefined) {
    throw new Error(`BENCH_ONLY: ${missing.id} is compared with its framework's toy; add it`)
  }
  return variants
}

// ---------------------------------------------------------------------------------------------
// The client

/** `count` requests over the connections, credential `(offset + i·7919) mod n` for the i-th. */
async function load(
  variant: Variant,
  port: number,
  credentials: readonly string[],
  count: number,
  offset: number,
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS })
  const once = (credential: string) =>
    new Promise<void>((resolve, reject) => {
      const sent = request(
        {
          host: '127.0.0.1',
          port,
          path: '/v1/ping',
          agent,
          headers: { ...variant.extraHeaders, [variant.header]: credential },
        },
        (response) => {
          response.resume()
          response.on('end', () =>
            response.statusCode === 200
              ? resolve()
              : reject(new Error(`${variant.id} answered ${response.statusCode}`)),
          )
        },
      )
      sent.on('error', reject)
      sent.end()
    })
  let next = 0
  try {
    await Promise.all(
      Array.from({ length: CONNECTIONS }, async () => {
        for (let i = next++; i < count; i = next++) {
          // 7919 is prime, so the credentials are visited in a scattered order, each once per n.
          await once(credentials[(offset + i * 7919) % credentials.length] as string)
        }
      }),
    )
  } finally {
    agent.destroy()
  }
}

// ---------------------------------------------------------------------------------------------
// One server under callgrind

/**
 * Resolves when the server has printed `word` on a line of its own `times` times in all. A line
 * may arrive in two chunks: the unfinished end of one is kept for the next.
 */
function printed(child: ChildProcess, word: string): (times: number) => Promise<void> {
  let seen = 0
  let unfinished = ''
  const waiting: { times: number; resolve: () => void }[] = []
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const lines = (unfinished + chunk).split('\n')
    unfinished = lines.pop() ?? ''
    seen += lines.filter((line) => line.trim() === word).length
    for (const wait of waiting.filter((entry) => entry.times <= seen)) wait.resolve()
  })
  return (times) =>
    seen >= times ? Promise.resolve() : new Promise((resolve) => waiting.push({ times, resolve }))
}

async function measure(variant: Variant, bundle: string, directory: string): Promise<Measurement> {
  const outFile = join(directory, `${variant.id}.callgrind`)
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${outFile}`,
      `--dump-before=${DUMP_TRIGGER}`,
      '--cache-sim=yes',
      `--I1=${CACHE_MODEL.I1.join(',')}`,
      `--D1=${CACHE_MODEL.D1.join(',')}`,
      `--LL=${CACHE_MODEL.LL.join(',')}`,
      process.execPath,
      '--predictable',
      // Names the generated code for --functions; it writes a line whenever V8 compiles.
      ...(flags.functions ? ['--perf-basic-prof'] : []),
      bundle,
      variant.id,
      directory,
      String(TIME_SCALE),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-20_000)
  })
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
  const failed = exited.then((code) => {
    const program = stderr
      .split('\n')
      .filter((line) => !/^(==|--)\d+(==|--)/.test(line))
      .join('\n')
    throw new Error(`${variant.id}: the server exited (${code}) early:\n${program.trim()}`)
  })
  failed.catch(() => {})
  const ready = printed(child, 'ready')
  const dumped = printed(child, 'dumped')
  const started = performance.now()
  try {
    await Promise.race([ready(1), failed])
    const { port, credentials } = JSON.parse(
      readFileSync(join(directory, `${variant.id}.json`), 'utf8'),
    ) as { port: number; credentials: string[] }
    await Promise.race([load(variant, port, credentials, credentials.length, 0), failed])
    await Promise.race([load(variant, port, credentials, WARMUP, 17), failed])
    child.kill('SIGUSR2')
    await Promise.race([dumped(1), failed])
    await Promise.race([load(variant, port, credentials, REQUESTS, 31), failed])
    child.kill('SIGUSR2')
    await Promise.race([dumped(2), failed])
  } finally {
    child.kill('SIGTERM')
    const stopped = await Promise.race([exited.then(() => true), sleep(60_000, false)])
    if (!stopped) child.kill('SIGKILL')
  }
  const parts = [1, 2].map((i) => `${outFile}.${i}`)
  if (!parts.every((part) => existsSync(part))) {
    throw new Error(`${variant.id}: callgrind did not write its two dumps`)
  }
  const measured = parts[1] as string
  const { totals, pid } = readCallgrindFile(measured)
  const perfMap = `/tmp/perf-${pid}.map`
  try {
    const profile = readProfile(measured, functionNamer(perfMap, bundle), (name) =>
      COLLECTOR.test(name),
    )
    return {
      variant,
      perRequest: new Map(
        EVENTS.map(([event]) => [event, eventTotal(totals, event, measured) / REQUESTS]),
      ),
      collector: (profile.within[profile.events.indexOf('Ir')] as number) / REQUESTS,
      profile: flags.functions ? profile : undefined,
      seconds: (performance.now() - started) / 1000,
    }
  } finally {
    // --keep keeps V8's code map too, so that the kept files' generated code can be named.
    if (flags.keep && flags.functions) console.log(`${variant.id}: V8's code map ${perfMap}`)
    else rmSync(perfMap, { force: true })
  }
}

// ---------------------------------------------------------------------------------------------
// The report

/** The measurement of `variant`'s framework's toy, which every server is compared with. */
function toyOf(measurements: readonly Measurement[], variant: Variant): Measurement | undefined {
  return measurements.find(
    (m) => m.variant.framework === variant.framework && m.variant.id.endsWith('-toy'),
  )
}

function report(measurements: readonly Measurement[], machine: string, minutes: number): string {
  const rows = measurements.map(({ variant, perRequest, collector }) => {
    const toyMeasurement = toyOf(measurements, variant)
    const toy = toyMeasurement?.perRequest
    const count = (event: EventName) => perRequest.get(event) as number
    const outside = count('Ir') - collector
    const toyOutside = (toy?.get('Ir') as number) - (toyMeasurement?.collector as number)
    const collectorCells = [
      grouped(Math.round(collector)),
      `${grouped(Math.round(outside))} (${fixed(outside / toyOutside, 3)}×)`,
    ]
    const cells = EVENTS.map(([event]) => {
      const value = count(event)
      const base = toy?.get(event) as number
      if (event === 'Ir') return `${grouped(Math.round(value))} (${fixed(value / base, 3)}×)`
      const more = value - base
      return variant.id.endsWith('-toy')
        ? fixed(value, 1)
        : `${fixed(value, 1)} (${signed(more, 1)})`
    })
    return [
      variant.framework === 'express' ? 'Express 5' : 'Koa 3',
      variant.label,
      cells[0] as string,
      ...collectorCells,
      ...cells.slice(1),
    ]
  })
  const [instructions, ...misses] = EVENTS.map(([, heading]) => heading)
  const table = markdownTable(
    [
      'framework',
      'server',
      instructions as string,
      'in the collector',
      'outside the collector',
      ...misses,
    ],
    rows,
    'llrrrrrrr',
  )
  const [i1, d1, ll] = [CACHE_MODEL.I1, CACHE_MODEL.D1, CACHE_MODEL.LL].map(
    ([size, ways]) => `${size / 1024} KiB ${ways}-way`,
  )
  return `## A whole server per request, under callgrind (\`npm run bench:http-instructions\`)

${machine}

Each server of \`npm run bench\` in its own process under \`valgrind --tool=callgrind
--cache-sim=yes\` (\`node --predictable\`; the gate's clock and timers slowed ${TIME_SCALE}-fold, to
callgrind's pace), ${CONNECTIONS} keep-alive connections from a native client: a pass over every
credential, ${grouped(WARMUP)} requests of warm-up, then ${grouped(REQUESTS)} measured requests,
whose counts are divided by ${grouped(REQUESTS)}: per request, instructions (× the toy's); the
part of them in V8's garbage collector (collections, incremental marking, sweeping: everything
called from its functions) and the rest (× the toy's), since a collection falls into the
measured stretch or not, which can move the whole count by several percent between runs of
one server, most of all on Express; then the fetches that missed a simulated cache (more or
fewer than the toy's): a ${i1} first-level instruction cache (I1), a ${d1} first-level data cache
(D1) and a ${ll} last level (LL), 64-byte lines. The last-level figures move by tens between
runs of the same server; the others by about 1 %. Unlike
\`npm run bench:instructions\` this counts everything the server process does for a request:
Node's HTTP parsing and socket code, the framework, the response, the collector.

${table}

The whole run took ${fixed(minutes, 1)} minutes, ${JOBS} server${JOBS === 1 ? '' : 's'} at a time.
`
}

/**
 * For `--functions`: each server beside its framework's toy, function by function (each one's
 * own instructions and first-level instruction-cache misses per request, JavaScript named by
 * the perf map), the functions that differ most first. The two processes run the same bundle, so
 * a function of Node's or the framework's has one name in both.
 */
function functionComparisons(measurements: readonly Measurement[]): string {
  const lines: string[] = []
  for (const measurement of measurements) {
    if (measurement.variant.id.endsWith('-toy')) continue
    const toy = toyOf(measurements, measurement.variant)
    const [mine, theirs] = [measurement.profile, toy?.profile]
    if (mine === undefined || theirs === undefined) continue
    const ir = mine.events.indexOf('Ir')
    const i1 = mine.events.indexOf('I1mr')
    const cost = (profile: Profile, name: string, event: number) =>
      (profile.self.get(name)?.[event] ?? 0) / REQUESTS
    const names = new Set([...mine.self.keys(), ...theirs.self.keys()])
    const rows = [...names]
      .map((name) => ({
        name,
        toy: cost(theirs, name, ir),
        server: cost(mine, name, ir),
        misses: cost(mine, name, i1) - cost(theirs, name, i1),
      }))
      .sort((a, b) => Math.abs(b.server - b.toy) - Math.abs(a.server - a.toy))
      .slice(0, TOP_FUNCTIONS)
    lines.push(
      `\n${measurement.variant.id} against ${toy?.variant.id}: the functions whose own instructions per request differ most`,
      '  more instructions (toy → server), more I1 misses, function:',
      ...rows.map(({ name, toy: before, server, misses }) => {
        const more = server - before
        const shown = name.length > 130 ? `${name.slice(0, 127)}…` : name
        return `  ${signed(more, 1).padStart(9)} (${fixed(before, 1)} → ${fixed(server, 1)})  ${signed(misses, 1).padStart(7)}  ${shown}`
      }),
    )
  }
  return lines.join('\n')
}

async function main(): Promise<void> {
  const variants = chosenVariants()
  const valgrind = valgrindVersion()
  const machine = describeMachine([valgrind])
  const directory = mkdtempSync(join(tmpdir(), 'portcullis-http-instructions-'))
  const started = performance.now()
  try {
    const bundle = await bundleScript('bench/support/http-instructions-server.ts', directory)
    console.log(
      `${variants.length} servers under callgrind, ${grouped(REQUESTS)} measured requests each, ${JOBS} at a time; ${valgrind}`,
    )
    const measurements = new Map<string, Measurement>()
    let next = 0
    const worker = async () => {
      for (let variant = variants[next++]; variant !== undefined; variant = variants[next++]) {
        const measurement = await measure(variant, bundle, directory)
        measurements.set(variant.id, measurement)
        const count = (event: EventName) => fixed(measurement.perRequest.get(event) as number, 1)
        console.log(
          `${variant.id.padEnd(28)} ${count('Ir').padStart(10)} instructions/request` +
            `  collector ${fixed(measurement.collector, 1)}` +
            `  I1 ${count('I1mr')}  IL ${count('ILmr')}  D1 ${count('D1mr')}  DL ${count('DLmr')}` +
            `  ${fixed(measurement.seconds, 0)} s`,
        )
      }
    }
    await Promise.all(Array.from({ length: Math.min(JOBS, variants.length) }, worker))
    const ordered = variants.map((variant) => measurements.get(variant.id) as Measurement)
    const markdown = report(ordered, machine, (performance.now() - started) / 60_000)
    publishResults('http-instructions', markdown, ONLY !== undefined)
    if (flags.functions) console.log(functionComparisons(ordered))
  } finally {
    if (flags.keep) console.log(`callgrind files kept in ${directory}`)
    else rmSync(directory, { recursive: true, force: true })
  }
}

await main()
