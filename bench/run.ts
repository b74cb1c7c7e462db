/**
 * `npm run bench`: HTTP throughput of portcullis against a bare app and its peers, same run.
 *
 * Every variant of `bench/variants.ts` runs in its own server process pinned to core 0; the
 * load comes from one autocannon process pinned to core 1 (with `taskset`, when there are two
 * cores or more). Each round visits every variant, in an order rotated from round to round:
 * a warm-up, then a measured run, bracketed by `measure-start`/`measure-stop` so the server
 * reports its own CPU time for exactly that run. The report gives, per variant, the median
 * req/s over rounds, median p50/p99 latency, median server CPU µs per request, and ratios
 * against the baselines of the same run; it is printed and written to bench/results/latest.md.
 *
 * Then the paired phase decides the key targets: per framework, the toy's second copy (the A/A
 * control), requireSecretKey and requirePublishableKey are each measured against the toy in
 * runs where the two servers take turns on core 0 every 100 ms (the other stopped), so that
 * both see the same moments of the machine, after a pass that presents every credential once
 * (so that the measured decisions are warm ones); each comparison runs in several fresh
 * processes of the variant and as many of the toy, as a process can keep a speed of its own.
 * It reports each ratio pooled over its runs, with a 90 % bootstrap interval over cycles and
 * processes.
 *
 * Environment: BENCH_ROUNDS (5), BENCH_SECONDS (3), BENCH_WARMUP_SECONDS (8),
 * BENCH_PAIRED_PROCESSES (4), BENCH_PAIRED_CYCLES (as many as processes),
 * BENCH_PAIRED_SECONDS (2), BENCH_PAIRED_WARMUP_SECONDS (2), BENCH_PAIRED_SLICE_MS (100),
 * BENCH_CONNECTIONS (50), BENCH_CREDENTIALS (10000), BENCH_ONLY (comma-separated variant ids),
 * BENCH_MAX_OTHER_CPU (30: a run during which other processes used more CPU is redone),
 * BENCH_SERVER_FLAGS (Node flags for the server processes, e.g. `--cpu-prof` or `--trace-gc`,
 * which NODE_OPTIONS refuses), REDIS_URL (redis://127.0.0.1:6379).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type {
  LoadCommand,
  LoadResult,
  ServerCommand,
  ServerReady,
  ServerReply,
} from './support/ipc.js'
import { describeMachine } from './support/machine.js'
import { connectRedis, deleteByPrefix } from './support/redis.js'
import { markdownTable, publishResults } from './support/results-file.js'
import { fixed, grouped, median, nestedBootstrapInterval, times } from './support/stats.js'
import { readSystemCpu } from './support/system-cpu.js'
import { CREDENTIAL_COUNT, MEASUREMENT_ORDER, VARIANTS, type Variant } from './variants.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3)
// Each server sits idle for a minute or two while the other variants run. Back under load it
// needs more than a pass over its credentials to return to its steady state: measured, the
// Redis session variant still cost 30 µs per request 3 s after 100 s idle, 24 µs after 9 s
// (the same as with no idle gap). So every run warms up 8 s before it is measured.
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 8)
/** A longer first warm-up per server before round 1, so round 1 is not the JIT's. */
const PRIME_SECONDS = Number(process.env.BENCH_PRIME_SECONDS ?? 3)
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50)
/** Runs during which the rest of the machine used more than this (% of a core) are redone. */
const MAX_OTHER_CPU = Number(process.env.BENCH_MAX_OTHER_CPU ?? 30)
const MAX_RETRIES = 3
/**
 * Processes per variant in the paired phase, all started for it. Two processes of one program
 * can keep different speeds for their whole lives (two Koa toy processes, measured turn about,
 * stayed 7–9 % apart cycle after cycle), which more cycles cannot average out; more processes
 * can.
 */
const PAIRED_PROCESSES = Math.max(1, Number(process.env.BENCH_PAIRED_PROCESSES ?? 4))
/** Cycles of the paired phase; as many as processes, each variant's process meets every toy's. */
const PAIRED_CYCLES = Number(process.env.BENCH_PAIRED_CYCLES ?? PAIRED_PROCESSES)
/** In the paired phase, how long each of two servers has the core before the other's turn. */
const PAIRED_SLICE_MS = Number(process.env.BENCH_PAIRED_SLICE_MS ?? 100)
const PAIRED_SECONDS = Number(process.env.BENCH_PAIRED_SECONDS ?? 2)
// After a pass that presents every credential once (see `measure`), which renews the cache
// entries that lapsed while the process waited for its turn.
const PAIRED_WARMUP_SECONDS = Number(process.env.BENCH_PAIRED_WARMUP_SECONDS ?? 2)
/** Per framework: the baseline first, then what the paired phase compares with it. */
const PAIRED_GROUPS: readonly (readonly string[])[] = [
  ['express-toy', 'express-toy-2', 'express-secret', 'express-publishable', 'express-toy-keys'],
  ['koa-toy', 'koa-toy-2', 'koa-secret', 'koa-publishable', 'koa-toy-keys'],
]
const SERVER_FLAGS = (process.env.BENCH_SERVER_FLAGS ?? '').split(/\s+/).filter(Boolean)
const ONLY = process.env.BENCH_ONLY?.split(',').map((id) => id.trim())

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const RUN_TAG = randomBytes(4).toString('hex')
const REDIS_PREFIX = `portcullis-bench:${RUN_TAG}:`

// ---------------------------------------------------------------------------------------------
// Child processes

const hasTaskset =
  process.platform === 'linux' &&
  availableParallelism() >= 2 &&
  spawnSync('taskset', ['-c', '0', 'true']).status === 0

/** Starts `node --import tsx <script>` with an IPC channel, pinned to `core` when possible. */
function startNode(
  script: string,
  args: readonly string[],
  core: number,
  flags: readonly string[] = [],
): ChildProcess {
  const node = [process.execPath, ...flags, '--import', 'tsx', join(ROOT, 'bench', script), ...args]
  const [command, ...rest] = hasTaskset ? ['taskset', '-c', String(core), ...node] : node
  return spawn(command as string, rest, {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' },
  })
}

/** Resolves with the first message `accept` recognises; rejects if the child exits first. */
function nextMessage<T>(child: ChildProcess, accept: (message: unknown) => T | undefined) {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (message: unknown) => {
      const value = accept(message)
      if (value === undefined) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(value)
    }
    const onExit = (code: number | null) => {
      child.off('message', onMessage)
      reject(new Error(`child ${child.pid} exited (${code}) before answering`))
    }
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}

let commandId = 0

interface RunningServer {
  readonly variant: Variant
  /** Which process of its variant: 0 for the rounds' own, 1 and up for the paired phase's. */
  readonly instance: number
  readonly child: ChildProcess
  readonly ready: ServerReady
}

async function startServer(
  variant: Variant,
  runDirectory: string,
  instance = 0,
): Promise<RunningServer> {
  const prefix = `${REDIS_PREFIX}${variant.id}:${instance}:`
  const child = startNode(
    'server.ts',
    [variant.id, runDirectory, prefix, String(instance)],
    0,
    SERVER_FLAGS,
  )
  const ready = await nextMessage(child, (message) =>
    (message as ServerReady).type === 'ready' ? (message as ServerReady) : undefined,
  )
  return { variant, instance, child, ready }
}

function ask(server: RunningServer, type: ServerCommand['type']): Promise<ServerReply> {
  const id = ++commandId
  const reply = nextMessage(server.child, (message) =>
    (message as ServerReply).type === 'reply' && (message as ServerReply).id === id
      ? (message as ServerReply)
      : undefined,
  )
  server.child.send({ type, id } satisfies ServerCommand)
  return reply
}

async function stopServer(server: RunningServer): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (server.child.exitCode !== null) resolve()
    else server.child.once('exit', () => resolve())
  })
  await ask(server, 'close').catch(() => {})
  const timer = setTimeout(() => server.child.kill('SIGTERM'), 3000)
  await exited
  clearTimeout(timer)
}

function load(
  loader: ChildProcess,
  server: RunningServer,
  seconds: number,
  onePass = false,
): Promise<LoadResult> {
  const id = ++commandId
  const result = nextMessage(loader, (message) =>
    (message as LoadResult).type === 'result' && (message as LoadResult).id === id
      ? (message as LoadResult)
      : undefined,
  )
  loader.send({
    type: 'run',
    id,
    url: `http://127.0.0.1:${server.ready.port}`,
    header: server.variant.header,
    ...(server.variant.extraHeaders === undefined
      ? {}
      : { extraHeaders: server.variant.extraHeaders }),
    credentialFile: server.ready.credentialFile,
    connections: CONNECTIONS,
    seconds,
    onePass,
  } satisfies LoadCommand)
  return result
}

/** One request with the first credential must answer 200, or the variant is misconfigured. */
async function smokeTest(server: RunningServer): Promise<void> {
  const [credential] = JSON.parse(readFileSync(server.ready.credentialFile, 'utf8')) as string[]
  const response = await fetch(`http://127.0.0.1:${server.ready.port}/v1/ping`, {
    headers: { ...server.variant.extraHeaders, [server.variant.header]: credential as string },
  })
  const body = await response.text()
  if (response.status !== 200) {
    throw new Error(`${server.variant.id}: smoke request answered ${response.status} ${body}`)
  }
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface RoundSample {
  readonly requestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly cpuMicrosPerRequest: number
  /** The server's CPU time and the requests it served over the measured run. */
  readonly cpuMicros: number
  /** `cpuMicros` split: user mode, and the kernel on the server's behalf. */
  readonly userMicros: number
  readonly systemMicros: number
  /** The same CPU time by thread: the main one, and all the others (NaN off Linux). */
  readonly mainThreadMicros: number
  readonly otherThreadsMicros: number
  readonly requests: number
  /** Garbage collections over the measured run (see ServerReply). */
  readonly scavenges: number
  readonly fullCollections: number
  readonly fullCollectionMicros: number
  readonly non2xx: number
  readonly errors: number
  /**
   * CPU the rest of the machine used during the measured run (every process but this server
   * and the load generator: Redis, and anything else running), in % of one core.
   */
  readonly otherCpuPercent: number
  /** CPU the load generator used, in % of one core (near 100: the load, not the server, limits). */
  readonly loadCpuPercent: number
  /** How many earlier runs of this measurement were discarded (see {@link measureQuietly}). */
  readonly remeasured: number
}

/** Runs discarded and measured again, over a set of samples. */
const remeasuredIn = (samples: Iterable<RoundSample>) => {
  let count = 0
  for (const sample of samples) count += sample.remeasured
  return count
}

/**
 * Lets `servers` run one at a time, each alone on its core for `PAIRED_SLICE_MS` in turn while
 * the others are stopped (SIGSTOP), until `done` settles; then all run again.
 */
async function takeTurns(servers: readonly RunningServer[], done: Promise<unknown>, first: number) {
  let finished = false
  const settled = done.then(
    () => {
      finished = true
    },
    () => {
      finished = true
    },
  )
  const signal = (server: RunningServer, name: 'SIGSTOP' | 'SIGCONT') => {
    if (server.child.pid !== undefined && server.child.exitCode === null) {
      process.kill(server.child.pid, name)
    }
  }
  try {
    for (let turn = first; !finished; turn++) {
      const running = servers[turn % servers.length] as RunningServer
      for (const server of servers) if (server !== running) signal(server, 'SIGSTOP')
      signal(running, 'SIGCONT')
      await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, PAIRED_SLICE_MS))])
    }
  } finally {
    for (const server of servers) signal(server, 'SIGCONT')
  }
}

/**
 * One measured run: a warm-up, then `seconds` measured. Several servers are measured over the
 * same stretch of time, each with its own load, taking turns on the core (see
 * {@link takeTurns}); the stretch is then as many times longer, so that each is served for
 * about `seconds`.
 */
async function measure(
  loader: ChildProcess,
  servers: readonly RunningServer[],
  warmupSeconds: number,
  seconds: number,
): Promise<RoundSample[]> {
  const loadAll = (each: number) => {
    const loads = Promise.all(servers.map((server) => load(loader, server, each * servers.length)))
    return servers.length === 1 ? loads : takeTurns(servers, loads, 0).then(() => loads)
  }
  // A paired run comes round to a process a minute or more after its last one, by when the
  // gate's cached keys (30 s ttl) have lapsed. A warm-up by time renewed only part of them (two
  // seconds of Express left a quarter of the measured requests reading the store), so every
  // credential is presented once first: the measured run is of warm decisions, as in the
  // rounds, whose servers take their turns' 8 s warm-ups at several passes a turn.
  if (servers.length > 1) {
    await Promise.all(servers.map((server) => load(loader, server, 0, true)))
  }
  if (warmupSeconds > 0) await loadAll(warmupSeconds)
  const systemBefore = readSystemCpu()
  const startedAt = performance.now()
  await Promise.all(servers.map((server) => ask(server, 'measure-start')))
  const results = await loadAll(seconds)
  const cpus = await Promise.all(servers.map((server) => ask(server, 'measure-stop')))
  const wallMicros = (performance.now() - startedAt) * 1000
  const systemAfter = readSystemCpu()
  // Runs side by side share the load generator: each reports all its CPU time over the run.
  const loadMicros = Math.max(...results.map((result) => result.cpuMicros))
  const loadSeconds = Math.max(...results.map((result) => result.seconds))
  const serverMicros = cpus.reduce((sum, cpu) => sum + (cpu.cpuMicros ?? 0), 0)
  const otherMicros =
    systemBefore === null || systemAfter === null
      ? Number.NaN
      : systemAfter.busyMicros - systemBefore.busyMicros - serverMicros - loadMicros
  return results.map((result, index) => {
    const cpu = cpus[index] as ServerReply
    return {
      requestsPerSecond: result.responses / result.seconds,
      p50Ms: result.p50Ms,
      p99Ms: result.p99Ms,
      cpuMicrosPerRequest: (cpu.cpuMicros ?? Number.NaN) / (cpu.requests ?? Number.NaN),
      cpuMicros: cpu.cpuMicros ?? Number.NaN,
      userMicros: cpu.userMicros ?? Number.NaN,
      systemMicros: cpu.systemMicros ?? Number.NaN,
      mainThreadMicros: cpu.mainThreadMicros ?? Number.NaN,
      otherThreadsMicros: cpu.otherThreadsMicros ?? Number.NaN,
      requests: cpu.requests ?? Number.NaN,
      scavenges: cpu.scavenges ?? Number.NaN,
      fullCollections: cpu.fullCollections ?? Number.NaN,
      fullCollectionMicros: cpu.fullCollectionMicros ?? Number.NaN,
      non2xx: result.non2xx,
      errors: result.errors + result.timeouts,
      otherCpuPercent: Math.max(0, (100 * otherMicros) / wallMicros),
      loadCpuPercent: (100 * loadMicros) / (loadSeconds * 1e6),
      remeasured: 0,
    }
  })
}

/**
 * One measured run of `servers` (see {@link measure}), redone (up to MAX_RETRIES times) while
 * other processes took more than MAX_OTHER_CPU of a core meanwhile (a test run, say); `label`
 * names it in the log.
 */
async function measureQuietly(
  loader: ChildProcess,
  servers: readonly RunningServer[],
  label: string,
  warmupSeconds: number,
  seconds: number,
): Promise<RoundSample[]> {
  const names = servers.map((server) => server.variant.id).join(' + ')
  let samples = await measure(loader, servers, warmupSeconds, seconds)
  let retry = 0
  while (retry < MAX_RETRIES && (samples[0]?.otherCpuPercent ?? 0) > MAX_OTHER_CPU) {
    retry++
    console.log(
      `${label} ${names}: other processes used ${fixed(samples[0]?.otherCpuPercent ?? Number.NaN, 0)}% of a core, measuring again`,
    )
    await new Promise((resolve) => setTimeout(resolve, 2000))
    samples = await measure(loader, servers, warmupSeconds, seconds)
  }
  return samples.map((measured, index) => {
    const sample = { ...measured, remeasured: retry }
    const server = servers[index] as RunningServer
    const name =
      servers.length === 1 ? server.variant.id : `${server.variant.id} #${server.instance}`
    console.log(
      `${label} ${name.padEnd(24)} ${grouped(sample.requestsPerSecond).padStart(7)} req/s` +
        `  p50 ${fixed(sample.p50Ms, 2)} ms  p99 ${fixed(sample.p99Ms, 2)} ms` +
        `  ${fixed(sample.cpuMicrosPerRequest, 1)} µs CPU/req` +
        `  load CPU ${fixed(sample.loadCpuPercent, 0)}%  other CPU ${fixed(sample.otherCpuPercent, 0)}%` +
        (sample.non2xx + sample.errors > 0
          ? `  ⚠ ${sample.non2xx} non-2xx, ${sample.errors} errors`
          : ''),
    )
    return sample
  })
}

/**
 * Round r visits the variants starting at a different place, so none is always first, and
 * every other round in the reverse order, so none always follows the same one (an idle
 * server's own background work, its GC a few seconds after its load stops, lands in its
 * successor's run).
 */
function rotated<T>(items: readonly T[], round: number): T[] {
  return turned(items, Math.round((round * items.length) / Math.max(ROUNDS, 1)), round % 2 === 1)
}

/** `items` starting at `offset` (wrapping round), reversed when `backwards`. */
function turned<T>(items: readonly T[], offset: number, backwards: boolean): T[] {
  const start = offset % items.length
  const order = [...items.slice(start), ...items.slice(0, start)]
  return backwards ? order.reverse() : order
}

// ---------------------------------------------------------------------------------------------
// Report

interface Summary {
  readonly variant: Variant
  /** One sample per round, in round order. */
  readonly samples: readonly RoundSample[]
  readonly requestsPerSecond: number
  readonly minRequestsPerSecond: number
  readonly maxRequestsPerSecond: number
  readonly p50Ms: number
  readonly p99Ms: number
  readonly cpuMicrosPerRequest: number
  readonly non2xx: number
  readonly errors: number
  readonly otherCpuPercent: number
  readonly loadCpuPercent: number
}

function summarize(variant: Variant, samples: readonly RoundSample[]): Summary {
  const rates = samples.map((sample) => sample.requestsPerSecond)
  return {
    variant,
    samples,
    requestsPerSecond: median(rates),
    minRequestsPerSecond: Math.min(...rates),
    maxRequestsPerSecond: Math.max(...rates),
    p50Ms: median(samples.map((sample) => sample.p50Ms)),
    p99Ms: median(samples.map((sample) => sample.p99Ms)),
    cpuMicrosPerRequest: median(samples.map((sample) => sample.cpuMicrosPerRequest)),
    non2xx: samples.reduce((sum, sample) => sum + sample.non2xx, 0),
    errors: samples.reduce((sum, sample) => sum + sample.errors, 0),
    otherCpuPercent: median(samples.map((sample) => sample.otherCpuPercent)),
    loadCpuPercent: median(samples.map((sample) => sample.loadCpuPercent)),
  }
}

function report(summaries: readonly Summary[], machine: string, discarded: number): string {
  const byId = new Map(summaries.map((summary) => [summary.variant.id, summary]))
  /**
   * Same-run ratios, taken round by round (a variant against its baseline measured moments
   * apart) and then the median over rounds, so that a drift in the machine's speed between
   * rounds cancels out.
   */
  const perRound = (
    id: string,
    baseline: string,
    of: (a: RoundSample, b: RoundSample) => number,
  ) => {
    const a = byId.get(id)?.samples ?? []
    const b = byId.get(baseline)?.samples ?? []
    const ratios = a.flatMap((sample, round) => {
      const base = b[round]
      return base === undefined ? [] : [of(sample, base)]
    })
    return median(ratios)
  }
  /** Throughput ratio: > 1 serves more requests per second than the baseline. */
  const ratio = (id: string, baseline: string) =>
    perRound(id, baseline, (a, b) => a.requestsPerSecond / b.requestsPerSecond)
  /** CPU ratio, as a throughput: > 1 spends less server CPU per request than the baseline. */
  const cpuRatio = (id: string, baseline: string) =>
    perRound(id, baseline, (a, b) => b.cpuMicrosPerRequest / a.cpuMicrosPerRequest)

  const rows = summaries.map((summary) => {
    const { framework, id } = summary.variant
    const bare = byId.get(`${framework}-bare`)
    const addedCpu = summary.cpuMicrosPerRequest - (bare?.cpuMicrosPerRequest ?? Number.NaN)
    const refused = summary.non2xx + summary.errors
    return [
      framework === 'express' ? 'Express 5' : 'Koa 3',
      summary.variant.label + (refused > 0 ? ` ⚠ ${grouped(refused)} non-2xx/errors` : ''),
      grouped(summary.requestsPerSecond),
      `${grouped(summary.minRequestsPerSecond)}–${grouped(summary.maxRequestsPerSecond)}`,
      fixed(summary.p50Ms, 2),
      fixed(summary.p99Ms, 2),
      fixed(summary.cpuMicrosPerRequest, 1),
      id.endsWith('-bare') ? '' : fixed(addedCpu, 1),
      times(ratio(id, `${framework}-bare`)),
      times(ratio(id, `${framework}-noop`)),
      times(ratio(id, `${framework}-toy`)),
      framework === 'express' ? times(ratio(id, 'express-session')) : '',
      `${fixed(summary.loadCpuPercent, 0)} / ${fixed(summary.otherCpuPercent, 0)}`,
    ]
  })
  const table = markdownTable(
    [
      'framework',
      'variant',
      'req/s (median)',
      'req/s range',
      'p50 ms',
      'p99 ms',
      'server CPU µs/req',
      'CPU µs/req over bare',
      '× bare',
      '× no-op',
      '× SHA-256→Map',
      '× express-session',
      'load / other CPU %',
    ],
    rows,
    'llrrrrrrrrrrr',
  )

  const target = (label: string, id: string, baseline: string, goal: number) => {
    const measured = ratio(id, baseline)
    const byCpu = cpuRatio(id, baseline)
    // What a middleware costing nothing at all would score: the bare framework's ratio.
    const bare = `${id.startsWith('koa') ? 'koa' : 'express'}-bare`
    return [
      label,
      times(measured),
      times(byCpu),
      `${times(ratio(bare, baseline))} / ${times(cpuRatio(bare, baseline))}`,
      `≥ ${goal}×`,
      Number.isFinite(measured) ? (measured >= goal ? 'met' : 'not met') : 'not measured',
    ]
  }
  const targets = markdownTable(
    [
      'target',
      'req/s ratio',
      'server CPU/req ratio',
      'ceiling: bare framework (req/s / CPU)',
      'goal',
      'by req/s',
    ],
    [
      target('Koa requireSecretKey ÷ SHA-256→Map', 'koa-secret', 'koa-toy', 0.95),
      target('Koa requirePublishableKey ÷ SHA-256→Map', 'koa-publishable', 'koa-toy', 0.95),
      target('Express requireSecretKey ÷ SHA-256→Map', 'express-secret', 'express-toy', 0.95),
      target(
        'Express requirePublishableKey ÷ SHA-256→Map',
        'express-publishable',
        'express-toy',
        0.95,
      ),
      target('Koa requireSession (Redis) ÷ Koa + no-op', 'koa-session-redis', 'koa-noop', 0.9),
      target(
        'Koa restricted key, route naming a permission ÷ requireSecretKey',
        'koa-restricted',
        'koa-secret',
        0.95,
      ),
      target(
        'Koa publishable key limited to origins ÷ unrestricted',
        'koa-publishable-origins',
        'koa-publishable',
        0.95,
      ),
      target(
        'Express publishable key limited to origins ÷ unrestricted',
        'express-publishable-origins',
        'express-publishable',
        0.95,
      ),
      target(
        'Express restricted key, route naming a permission ÷ requireSecretKey',
        'express-restricted',
        'express-secret',
        0.95,
      ),
      target(
        'Express requireSession (Redis) ÷ express-session + connect-redis',
        'express-session-redis',
        'express-session',
        1.6,
      ),
    ],
    'lrrrrl',
  )
  const control = (framework: 'express' | 'koa') =>
    `${times(ratio(`${framework}-toy-2`, `${framework}-toy`))} by req/s, ` +
    `${times(cpuRatio(`${framework}-toy-2`, `${framework}-toy`))} by CPU`

  return `## HTTP throughput (\`npm run bench\`)

${machine}

Server: one process per variant${hasTaskset ? ', pinned to core 0' : ''}; load: autocannon
(programmatic API) in another process${hasTaskset ? ' pinned to core 1' : ''}, ${CONNECTIONS}
connections, \`GET /v1/ping\` answering a small JSON body. ${ROUNDS} interleaved rounds, each
visiting every variant (${WARMUP_SECONDS} s warm-up, then ${SECONDS} s measured) in an order that
rotates from round to round, runs backwards every other round and keeps each target's pair
side by side; every server had a ${PRIME_SECONDS} s warm-up before round 1. Each credential-checking variant holds
${grouped(CREDENTIAL_COUNT)} distinct keys or sessions; each connection cycles through its own
share of them, so every credential is presented once per ${grouped(CREDENTIAL_COUNT)} requests
and no run rides on one hot token (bare and no-op variants get the same kind of header). Secret
keys each carry their own three-entry IP allowlist whose last entry admits 127.0.0.1 (so
${grouped(CREDENTIAL_COUNT)} distinct allowlists). portcullis runs from source, through its public
API, with default options.

req/s, p50, p99 and CPU are medians over rounds; "range" is the lowest and highest round. Server
CPU is \`process.cpuUsage()\` of the server process (user + system, GC threads included) over
the measured run, divided by the requests it served. "load / other CPU %" is, in % of one core,
what the load generator used (near 100, the load rather than the server would be the limit) and
what the rest of the machine used meanwhile (/proc/stat, less the server and the load
generator): Redis for the session variants, plus any background noise. Redis is not pinned, so
it competes with the server or the load generator for a core. A run during which other processes
used more than ${MAX_OTHER_CPU}% of a core was measured again (up to ${MAX_RETRIES} times):
${discarded} run${discarded === 1 ? ' was' : 's were'} discarded this way.

${table}

Ratios ("× bare", "× no-op", …) are taken per round against the baseline measured in the same
round, then the median over rounds. In the targets below, the "server CPU/req ratio" is the
same comparison by server CPU per request (baseline ÷ variant), which does not depend on
whether the server or the load generator saturated first. The ceiling is the same ratio for the
bare framework, i.e. for a middleware that costs nothing: a goal above it cannot be met by any
middleware in that run.

${targets}

A/A control — the same SHA-256→Map app in a second process, against the first: Express
${control('express')}; Koa ${control('koa')}. Two identical servers land this far apart in this
run, so a ratio closer than that to its goal is within the noise.
`
}

// ---------------------------------------------------------------------------------------------
// The paired phase

/** One run of the paired phase: a toy process and a variant's process, side by side. */
interface PairedVisit {
  readonly cycle: number
  readonly server: RunningServer
  readonly baselineSample: RoundSample
  readonly sample: RoundSample
}

interface PairedGroup {
  readonly baseline: Variant
  readonly others: readonly Variant[]
  /** Per variant id, the processes it ran in. */
  readonly processes: ReadonlyMap<string, readonly RunningServer[]>
  readonly visits: readonly PairedVisit[]
}

/**
 * Measures each framework's key group (`PAIRED_GROUPS`, as far as the run holds it), one
 * comparison with the toy at a time. Each comparison starts `PAIRED_PROCESSES` processes of
 * the variant and as many of the toy, one of each in turn, each warmed up the same; a cycle
 * then measures every one of them once, each variant process together with a toy process: both
 * loaded over the same seconds, taking turns on core 0 (see {@link takeTurns}), so that whatever
 * the machine's speed does meanwhile, it does to both. Over `PAIRED_CYCLES` cycles each variant
 * process meets every toy process once; the visits' order rotates and runs backwards every
 * other cycle; which of the two runs first alternates.
 *
 * The two sides have the same history: started together, visited as often, idle as long in
 * between. With one set of toy processes shared by all the comparisons, each toy process was
 * visited three times as often as any variant process, and the toy's own second copy, measured
 * as a variant, came out 2 % dearer than the toy (Koa, 0.98×, interval 0.96×–0.99×); with a
 * set of its own for each comparison, it came out at 1.00× on both frameworks in a full run.
 */
async function pairedPhase(
  loader: ChildProcess,
  servers: readonly RunningServer[],
  runDirectory: string,
): Promise<PairedGroup[]> {
  const groups: PairedGroup[] = []
  if (PAIRED_CYCLES <= 0) return groups
  for (const ids of PAIRED_GROUPS) {
    const variants = ids.flatMap((id) =>
      servers.filter((server) => server.variant.id === id).map((server) => server.variant),
    )
    const [baseline, ...others] = variants
    if (baseline === undefined || baseline.id !== ids[0] || others.length === 0) continue
    const processes = new Map<string, RunningServer[]>()
    const visits: PairedVisit[] = []
    for (const [comparison, variant] of others.entries()) {
      const own: RunningServer[] = []
      const toys: RunningServer[] = []
      const start = async (of: Variant, instance: number, into: RunningServer[]) => {
        const server = await startServer(of, runDirectory, instance)
        into.push(server)
        await smokeTest(server)
        await load(loader, server, WARMUP_SECONDS)
      }
      try {
        for (let index = 1; index <= PAIRED_PROCESSES; index++) {
          // The toy's instance numbers go on from comparison to comparison (its credential files).
          await start(baseline, comparison * PAIRED_PROCESSES + index, toys)
          await start(variant, index, own)
        }
        processes.set(variant.id, own)
        for (let cycle = 0; cycle < PAIRED_CYCLES; cycle++) {
          const label = `paired ${variant.id} ${cycle + 1}/${PAIRED_CYCLES}`
          for (const [position, server] of turned(own, cycle, cycle % 2 === 1).entries()) {
            // Over PAIRED_PROCESSES cycles, each process meets every toy process once.
            const toy = toys[(server.instance - 1 + cycle) % toys.length] as RunningServer
            const toyFirst = (cycle + position) % 2 === 0
            const samples = await measureQuietly(
              loader,
              toyFirst ? [toy, server] : [server, toy],
              label,
              PAIRED_WARMUP_SECONDS,
              PAIRED_SECONDS,
            )
            const [baselineSample, sample] = toyFirst ? samples : [...samples].reverse()
            if (baselineSample === undefined || sample === undefined) continue
            visits.push({ cycle, server, baselineSample, sample })
          }
        }
      } finally {
        for (const server of [...toys, ...own]) await stopServer(server)
      }
    }
    groups.push({ baseline, others, processes, visits })
  }
  return groups
}

/** One field summed over some samples (pooled: totals, not an average of ratios). */
function pooled(samples: readonly RoundSample[], field: (sample: RoundSample) => number): number {
  let sum = 0
  for (const sample of samples) sum += field(sample)
  return sum
}

/**
 * The toy's server CPU per request over the variant's, pooled over some visits (total CPU time
 * ÷ total requests on each side); > 1 means the variant spends less than the toy.
 */
function pairedRatio(visits: readonly PairedVisit[]): number {
  const cpuPerRequest = (samples: readonly RoundSample[]) =>
    pooled(samples, (sample) => sample.cpuMicros) / pooled(samples, (sample) => sample.requests)
  return (
    cpuPerRequest(visits.map((visit) => visit.baselineSample)) /
    cpuPerRequest(visits.map((visit) => visit.sample))
  )
}

/** `describe` of the toy's samples of some visits, then of the variant's: "toy → variant". */
function toyThenVariant(
  visits: readonly PairedVisit[],
  describe: (samples: readonly RoundSample[]) => string,
): string {
  const toy = describe(visits.map((visit) => visit.baselineSample))
  return `${toy} → ${describe(visits.map((visit) => visit.sample))}`
}

/**
 * Garbage collections on each side of some visits, pooled: scavenges per 1,000 requests, then
 * full collections (their main-thread pauses per request, in µs); the toy's → the variant's.
 */
function pairedGc(visits: readonly PairedVisit[]): string {
  return toyThenVariant(visits, (samples) => {
    const requests = pooled(samples, (sample) => sample.requests)
    const scavenges = pooled(samples, (sample) => sample.scavenges)
    const full = pooled(samples, (sample) => sample.fullCollections)
    const fullMicros = pooled(samples, (sample) => sample.fullCollectionMicros)
    return `${fixed((1000 * scavenges) / requests, 2)}; ${full} (${fixed(fullMicros / requests, 2)})`
  })
}

type SampleField = (sample: RoundSample) => number

/**
 * Server CPU per request on each side of some visits, pooled, as two parts in µs ("a + b",
 * toy → variant): user mode and the kernel, where a gap lies in the server's own work or in its
 * system calls (`USER_SYSTEM`); or the main thread (JavaScript, scavenges, the full
 * collections' pauses) and all the others (concurrent marking and sweeping, optimizing
 * compilation, libuv's pool) (`MAIN_OTHERS`).
 */
function pairedParts(
  visits: readonly PairedVisit[],
  [first, second]: readonly [SampleField, SampleField],
) {
  return toyThenVariant(visits, (samples) => {
    const requests = pooled(samples, (sample) => sample.requests)
    return `${fixed(pooled(samples, first) / requests, 1)} + ${fixed(pooled(samples, second) / requests, 1)}`
  })
}
const USER_SYSTEM: readonly [SampleField, SampleField] = [
  (s) => s.userMicros,
  (s) => s.systemMicros,
]
const MAIN_OTHERS: readonly [SampleField, SampleField] = [
  (s) => s.mainThreadMicros,
  (s) => s.otherThreadsMicros,
]

/** What a paired variant controls for, by its id; undefined for a guard, which has a goal. */
function controlOf(id: string): 'A/A control' | 'held-keys control' | undefined {
  if (id.endsWith('-toy-2')) return 'A/A control'
  if (id.endsWith('-toy-keys')) return 'held-keys control'
  return undefined
}

/** The paired phase's table: per variant, its server CPU per request against the toy's. */
function pairedReport(groups: readonly PairedGroup[]): string {
  const remeasured = remeasuredIn(
    groups.flatMap(({ visits }) => visits.flatMap((visit) => [visit.baselineSample, visit.sample])),
  )
  const cycles = PAIRED_CYCLES
  const rows = groups.flatMap(({ baseline, others, processes, visits }) => {
    const framework = baseline.framework === 'express' ? 'Express 5' : 'Koa 3'
    return others.map((variant) => {
      const own = processes.get(variant.id) ?? []
      const mine = visits.filter((visit) => visit.server.variant === variant)
      // By cycle and process, for the bootstrap's draws.
      const at = new Map(mine.map((visit) => [`${visit.cycle}/${visit.server.instance}`, visit]))
      const estimate = pairedRatio(mine)
      // Cycles and the variant's processes are each resampled (the toy's processes take turns).
      const interval = nestedBootstrapInterval(
        [cycles, own.length],
        ([cycleDraw = [], processDraw = []]) =>
          pairedRatio(
            cycleDraw.flatMap((cycle) =>
              processDraw.flatMap((index) => at.get(`${cycle}/${own[index]?.instance}`) ?? []),
            ),
          ),
      )
      const perCycle = Array.from({ length: cycles }, (_, cycle) =>
        pairedRatio(mine.filter((visit) => visit.cycle === cycle)),
      )
      const perProcess = own.map((server) =>
        pairedRatio(mine.filter((visit) => visit.server === server)),
      )
      const rates = mine.map(
        (visit) => visit.sample.requestsPerSecond / visit.baselineSample.requestsPerSecond,
      )
      const control = controlOf(variant.id)
      const verdict =
        control ??
        (!Number.isFinite(estimate)
          ? 'not measured'
          : estimate < 0.95
            ? 'not met'
            : interval.low >= 0.95
              ? 'met, the whole interval above'
              : 'met; the interval reaches below')
      return [
        framework,
        variant.label,
        times(estimate),
        `${times(interval.low)}–${times(interval.high)}`,
        `${times(Math.min(...perProcess))}–${times(Math.max(...perProcess))}`,
        times(median(perCycle)),
        `${times(Math.min(...perCycle))}–${times(Math.max(...perCycle))}`,
        times(median(rates)),
        pairedParts(mine, USER_SYSTEM),
        pairedParts(mine, MAIN_OTHERS),
        pairedGc(mine),
        control === undefined ? '≥ 0.95×' : '',
        verdict,
      ]
    })
  })
  const table = markdownTable(
    [
      'framework',
      'variant ÷ SHA-256→Map',
      'server CPU/req ratio',
      '90 % interval',
      'single processes',
      'median cycle',
      'single cycles',
      'req/s ratio (median run)',
      'server CPU µs/req, user + system, toy → variant',
      'the same by thread, main + others, toy → variant',
      'scavenges per 1,000 req; full collections (µs/req), toy → variant',
      'goal',
      'by CPU',
    ],
    rows,
    'llrrrrrrrrrll',
  )
  const perVariant = PAIRED_PROCESSES
  return `### The key targets, paired (\`npm run bench\`, second phase)

This machine's speed changes from second to second (the same toy server, measured 4 s apart,
can cost 1.5× the CPU per request), so servers measured one after the other, as in the rounds
above, carry that drift. Here each of the toy's second copy, \`requireSecretKey\`,
\`requirePublishableKey\` and the held-keys control is measured together with the SHA-256→Map
toy: each with its own
${CONNECTIONS} connections from the load generator, over the same seconds, the two servers taking
turns on core 0 every ${PAIRED_SLICE_MS} ms (the other one stopped with SIGSTOP), so that each
runs alone on its core as in the rounds and both see the same moments of the machine. Each
server is first sent every one of its credentials once (each connection goes once through its
share), which renews the cached keys that lapsed while the process waited for its turn; then
${PAIRED_WARMUP_SECONDS} s of warm-up and ${PAIRED_SECONDS} s measured, for each server. Each comparison runs in ${perVariant}
process${perVariant === 1 ? '' : 'es'} of the variant and as many of the toy, started for it one of each in turn and warmed
up ${WARMUP_SECONDS} s, since a process can keep a speed of its own (its heap's layout, its compiler's choices);
${cycles} cycle${cycles === 1 ? '' : 's'} each measure every process once, each variant process beside a toy process that
changes from cycle to cycle, so that the two sides are visited as often and wait as long.

The ratio is the toy's server CPU per request ÷ the variant's (> 1: cheaper than the toy), each
pooled over the variant's runs and the toy's runs beside them (total CPU time ÷ total
requests). The 90 % interval is a bootstrap (4,000 resamples, seeded) over cycles and over the
variant's processes; "single processes" is the ratio process by process, "median cycle" and
"single cycles" cycle by cycle. The toy's second copy, measured the same way, shows what two
identical servers score. The held-keys control is the toy in a process that also holds, idle,
what the \`requireSecretKey\` server holds: a gate over a MemoryStore with the same
${grouped(CREDENTIAL_COUNT)} allowlisted keys, each authenticated once, which serves no request.
It shows what holding those keys costs a request that never reads them (a larger heap, its
layout and its collections): that much of a guard's gap is not its code. Latency is not
reported here: a stopped server's requests wait. The CPU time per request is then given as such, pooled the same way, split into user mode and the
kernel's work on the server's behalf (\`process.cpuUsage()\`): a gap in the first is the server's
own work, in the second its system calls; and split by thread (Linux's scheduler statistics):
the main thread, which runs the JavaScript, the scavenges and the full collections' pauses, and
all the others, where V8 marks and sweeps concurrently and compiles optimized code. The last
columns but two count garbage collections
over the measured runs, pooled the same way:
scavenges per 1,000 requests (how much each side allocates), and full collections with their
main-thread pauses per request. Scavenge pauses are not shown: they are timed by the wall clock,
and a turn's SIGSTOP that lands in one adds the stopped time to it. Concurrent marking and
sweeping run on the other threads, in the CPU time but in neither of these columns.
${remeasured} paired run${remeasured === 1 ? ' was' : 's were'} measured again because other processes used more than ${MAX_OTHER_CPU}% of a core.

${table}
`
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const variants = VARIANTS.filter((variant) => ONLY === undefined || ONLY.includes(variant.id))
  if (variants.length === 0) throw new Error(`BENCH_ONLY matched no variant: ${ONLY}`)
  const runDirectory = mkdtempSync(join(tmpdir(), 'portcullis-bench-'))
  if (!hasTaskset) console.warn('taskset unavailable or one core only: processes are not pinned')

  const loader = startNode('load.ts', [], 1)
  const servers: RunningServer[] = []
  try {
    await nextMessage(loader, (message) =>
      (message as { type?: string }).type === 'ready' ? true : undefined,
    )
    for (const variant of variants) {
      const server = await startServer(variant, runDirectory)
      servers.push(server)
      await smokeTest(server)
      console.log(`started ${variant.id} (set-up ${grouped(server.ready.setupMs)} ms)`)
    }

    if (PRIME_SECONDS > 0) {
      for (const server of servers) await load(loader, server, PRIME_SECONDS)
    }
    const position = (server: RunningServer) => {
      const index = MEASUREMENT_ORDER.indexOf(server.variant.id)
      return index === -1 ? MEASUREMENT_ORDER.length : index
    }
    const inMeasurementOrder = [...servers].sort((a, b) => position(a) - position(b))
    const samples = new Map<string, RoundSample[]>(servers.map((s) => [s.variant.id, []]))
    for (let round = 0; round < ROUNDS; round++) {
      for (const server of rotated(inMeasurementOrder, round)) {
        const label = `round ${round + 1}/${ROUNDS}`
        const [sample] = await measureQuietly(loader, [server], label, WARMUP_SECONDS, SECONDS)
        if (sample !== undefined) samples.get(server.variant.id)?.push(sample)
      }
    }

    const summaries = servers.map((server) =>
      summarize(server.variant, samples.get(server.variant.id) ?? []),
    )
    const discarded = remeasuredIn([...samples.values()].flat())
    const paired = await pairedPhase(loader, servers, runDirectory)
    const markdown =
      report(summaries, describeMachine(), discarded) +
      (paired.length === 0 ? '' : `\n${pairedReport(paired)}`)
    publishResults('http', markdown, ONLY !== undefined)
  } finally {
    for (const server of servers) await stopServer(server)
    loader.send({ type: 'exit' })
    rmSync(runDirectory, { recursive: true, force: true })
    // Whatever a crashed server left behind under this run's prefix.
    const client = await connectRedis('bench cleanup').catch(() => null)
    if (client !== null) {
      await deleteByPrefix(client, REDIS_PREFIX)
      await client.quit()
    }
  }
}

await main()
