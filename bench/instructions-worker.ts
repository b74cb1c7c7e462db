/**
 * One process of `npm run bench:instructions`: bench/instructions.ts bundles this file and
 * starts it under callgrind as `node --predictable <bundle> <variant id> <N>`.
 *
 * It builds one variant (10,000 credentials, as `npm run bench`), drives every decision
 * in-process through the public Express or Koa middleware with minimal request objects,
 * warms up with the same loop, then runs 3N measured decisions and prints one JSON line.
 * Callgrind writes out its counts after the warm-up, after decision N and after decision 3N
 * (see `DUMP_TRIGGER`), so the runner reads I(N) and I(3N) from one process.
 *
 * Nothing in it reads the wall clock after start-up: the gate's clock (and the store's)
 * advances by a fixed simulated time per decision, so cache ttls, session touches and usage
 * flushes happen where they would at that request rate, however slowly callgrind runs.
 *
 * Environment (set by bench/instructions.ts): BENCH_CREDENTIALS (10000),
 * BENCH_DECISIONS_PER_SECOND (30000), BENCH_WARMUP_PASSES (3 passes over the credentials),
 * BENCH_FLUSH_INTERVAL_MS (60000, simulated), REDIS_URL, BENCH_REDIS_PREFIX.
 */
import * as nodeCrypto from 'node:crypto'
import { randomBytes } from 'node:crypto'
import { MemoryStore } from '../adapters/memory/index.js'
import { RedisStore } from '../adapters/redis/index.js'
import { createSecretHasher } from '../src/core/hashing.js'
import * as portcullisExpress from '../src/express/index.js'
import { createPortcullis, type Portcullis, type PortcullisStore } from '../src/index.js'
import * as portcullisKoa from '../src/koa/index.js'
import {
  BENCH_ORIGIN_HEADER,
  BENCH_ORIGINS,
  BENCH_PERMISSION,
  BENCH_RESOURCES,
  createBenchKeys,
  createToyKeys,
  expressToyMiddleware,
  issueSessions,
  koaToyMiddleware,
} from './support/fixtures.js'
import {
  FRAMEWORKS,
  type Framework,
  KINDS,
  type Kind,
  type SegmentReport,
  type WorkerReport,
} from './support/instruction-variants.js'
import { connectRedis, connectSubscriber } from './support/redis.js'
import { sha256, TOY_HASH_IMPLEMENTATION } from './support/toy-hash.js'

/**
 * A full collection (mark-compact), or a scavenge of the young generation only. Needs
 * `node --expose-gc`, which the runner passes.
 */
function collectGarbage(type: 'full' | 'young'): void {
  const gc = globalThis.gc
  if (gc === undefined) throw new Error('run with node --expose-gc')
  if (type === 'young') gc({ type: 'minor' })
  else gc()
}

/** Below 2³¹ ms, so that Node never clamps the usage recorder's fallback timer to 1 ms. */
const NEVER_MS = 2 ** 31 - 1

const COUNT = Number(process.env.BENCH_CREDENTIALS ?? 10_000)
const RATE = Number(process.env.BENCH_DECISIONS_PER_SECOND ?? 30_000)
const WARMUP_PASSES = Number(process.env.BENCH_WARMUP_PASSES ?? 3)
const FLUSH_INTERVAL_MS = Number(process.env.BENCH_FLUSH_INTERVAL_MS ?? 60_000)

// ---------------------------------------------------------------------------------------------
// The simulated clock: read once from the wall clock (Redis keys carry real expiry times),
// then advanced by 1000 / RATE ms per decision, in whole milliseconds like Date.now().

const START = Math.floor(Date.now() / 1000) * 1000
let now = START
let decisions = 0
const clock = () => now

// ---------------------------------------------------------------------------------------------
// The variant

interface Credential {
  readonly headers: Readonly<Record<string, string>>
  readonly rawHeaders: string[]
}

interface Built {
  readonly credentials: readonly string[]
  readonly middleware: unknown
  readonly flush: () => Promise<void>
  readonly storeCalls: () => number
  /** Extra request headers (an Origin). */
  readonly extraHeaders?: Readonly<Record<string, string>>
}

/** Counts calls of every method of a store (instance properties over its prototype's methods). */
function countingStore<T extends PortcullisStore>(store: T): { store: T; calls: () => number } {
  let calls = 0
  const prototype = Object.getPrototypeOf(store) as object
  for (const name of Object.getOwnPropertyNames(prototype)) {
    const descriptor = Object.getOwnPropertyDescriptor(prototype, name)
    if (name === 'constructor' || typeof descriptor?.value !== 'function') continue
    const original = descriptor.value as (...args: unknown[]) => unknown
    Object.defineProperty(store, name, {
      configurable: true,
      writable: true,
      value: function (this: unknown, ...args: unknown[]) {
        calls++
        return original.apply(this, args)
      },
    })
  }
  return { store, calls: () => calls }
}

/** A gate as `npm run bench` builds it, on the simulated clock, with no wall-clock timer. */
function benchGate(store: PortcullisStore): Portcullis {
  return createPortcullis({
    store,
    sessionSecret: randomBytes(32),
    resources: [...BENCH_RESOURCES],
    clock,
    // Flushed by the loop every FLUSH_INTERVAL_MS of simulated time instead.
    usageFlushIntervalMs: NEVER_MS,
    // Set-up runs ~50× slower under callgrind: a store call must not time out on the wall clock.
    storeTimeoutMs: 600_000,
  })
}

async function buildVariant(framework: Framework, kind: Kind): Promise<Built> {
  const binding = framework === 'express' ? portcullisExpress : portcullisKoa
  if (kind === 'noop' || kind === 'toy') {
    const { keys, byHash } = createToyKeys(COUNT)
    const middleware =
      kind === 'toy'
        ? framework === 'express'
          ? expressToyMiddleware(byHash)
          : koaToyMiddleware(byHash)
        : framework === 'express'
          ? (_req: unknown, _res: unknown, next: () => void) => next()
          : async (_ctx: unknown, next: () => Promise<unknown>) => {
              await next()
            }
    return { credentials: keys, middleware, flush: async () => {}, storeCalls: () => 0 }
  }
  if (kind === 'session-redis') {
    const prefix = process.env.BENCH_REDIS_PREFIX
    if (prefix === undefined) throw new Error('BENCH_REDIS_PREFIX is required')
    const client = await connectRedis('bench:instructions')
    const subscriber = await connectSubscriber(client, 'bench:instructions')
    // commandTimeoutMs 0: no wall-clock deadline per command (set-up runs under callgrind).
    const counted = countingStore(
      new RedisStore({ client, subscriber, prefix, clock, commandTimeoutMs: 0 }),
    )
    const gate = benchGate(counted.store)
    // One after the other, so that the store traffic of a run does not depend on timing.
    const credentials = await issueSessions(gate, COUNT, 1)
    return {
      credentials,
      middleware: binding.requireSession(gate),
      flush: () => gate.flush(),
      storeCalls: counted.calls,
    }
  }
  const counted = countingStore(new MemoryStore({ clock, sweepIntervalMs: 0 }))
  const gate = benchGate(counted.store)
  const common = { flush: () => gate.flush(), storeCalls: counted.calls }
  switch (kind) {
    case 'secret':
      return {
        ...common,
        credentials: await createBenchKeys(gate, 'secret', COUNT),
        middleware: binding.requireSecretKey(gate),
      }
    case 'restricted':
      return {
        ...common,
        credentials: await createBenchKeys(gate, 'restricted', COUNT),
        middleware: binding.requireSecretKey(gate, { permission: BENCH_PERMISSION }),
      }
    case 'publishable':
      return {
        ...common,
        credentials: await createBenchKeys(gate, 'publishable', COUNT),
        middleware: binding.requirePublishableKey(gate),
      }
    case 'publishable-origins':
      return {
        ...common,
        credentials: await createBenchKeys(gate, 'publishable', COUNT, BENCH_ORIGINS),
        middleware: binding.requirePublishableKey(gate),
        extraHeaders: BENCH_ORIGIN_HEADER,
      }
    case 'session-memory':
      return {
        ...common,
        credentials: await issueSessions(gate, COUNT, 1),
        middleware: binding.requireSession(gate),
      }
  }
}

/** The header list a client like autocannon sends: Host, the credential, then any extras. */
function credentialOf(
  token: string,
  extra: Readonly<Record<string, string>> | undefined,
): Credential {
  const authorization = `Bearer ${token}`
  const headers: Record<string, string> = { host: '127.0.0.1:3000', authorization }
  const rawHeaders = ['Host', '127.0.0.1:3000', 'Authorization', authorization]
  for (const [name, value] of Object.entries(extra ?? {})) {
    headers[name] = value
    rawHeaders.push(
      name.replace(/^./, (first) => first.toUpperCase()),
      value,
    )
  }
  return { headers, rawHeaders }
}

// ---------------------------------------------------------------------------------------------
// The loop: one fresh request (and response, or context) per decision, as a framework makes

const SOCKET = { remoteAddress: '127.0.0.1' }
const DONE: Promise<void> = Promise.resolve()
let accepted = 0

type ExpressHandler = (
  req: { headers: Readonly<Record<string, string>>; socket: typeof SOCKET; rawHeaders: string[] },
  res: ExpressResponse,
  next: () => void,
) => void | Promise<void>
interface ExpressResponse {
  locals: Record<string, unknown>
  status(code: number): ExpressResponse
  setHeader(name: string, value: string): ExpressResponse
  json(body: unknown): ExpressResponse
}
function status(this: ExpressResponse): ExpressResponse {
  return this
}
function json(this: ExpressResponse): ExpressResponse {
  return this
}
const expressNext = () => {
  accepted++
}

type KoaHandler = (
  ctx: {
    request: { headers: Readonly<Record<string, string>> }
    req: { socket: typeof SOCKET; rawHeaders: string[] }
    state: object
    status: number
    body: unknown
    set(field: Record<string, string>): void
  },
  next: () => Promise<unknown>,
) => Promise<unknown>
const koaSet = () => {}
const koaNext = () => {
  accepted++
  return DONE
}

function decider(framework: Framework, middleware: unknown) {
  if (framework === 'express') {
    const handler = middleware as ExpressHandler
    return (credential: Credential) =>
      handler(
        { headers: credential.headers, socket: SOCKET, rawHeaders: credential.rawHeaders },
        { locals: {}, status, setHeader: status, json },
        expressNext,
      )
  }
  const handler = middleware as KoaHandler
  return (credential: Credential) =>
    handler(
      {
        request: { headers: credential.headers },
        req: { socket: SOCKET, rawHeaders: credential.rawHeaders },
        state: {},
        status: 404,
        body: undefined,
        set: koaSet,
      },
      koaNext,
    )
}

async function main(): Promise<void> {
  const [variant, iterationsText] = process.argv.slice(2)
  const framework = FRAMEWORKS.find((name) => variant?.startsWith(`${name}-`))
  const kind = KINDS.find((name) => variant === `${framework}-${name}`)
  const iterations = Number(iterationsText)
  if (framework === undefined || kind === undefined || !(iterations > 0)) {
    throw new Error(`usage: instructions-worker <framework>-<kind> <iterations> (got ${variant})`)
  }
  // The toy and portcullis hash alike: the same implementation, the same digest.
  const sample = 'sk_test_hash-check'
  if (sha256(sample) !== createSecretHasher()(sample)) {
    throw new Error('the toy and portcullis hash differently')
  }
  const hash =
    typeof (nodeCrypto as { hash?: unknown }).hash === 'function'
      ? TOY_HASH_IMPLEMENTATION
      : `${TOY_HASH_IMPLEMENTATION} (no crypto.hash in this Node)`

  const built = await buildVariant(framework, kind)
  const credentials = built.credentials.map((token) => credentialOf(token, built.extraHeaders))
  const decide = decider(framework, built.middleware)
  let index = 0
  let nextFlushAt = START + FLUSH_INTERVAL_MS
  let flushes = 0
  const simulatedStart = now

  /** `count` decisions; the warm-up and the measured part run this same function. */
  async function drive(count: number): Promise<void> {
    for (let n = 0; n < count; n++) {
      const pending = decide(credentials[index] as Credential)
      if (pending !== undefined) await pending
      index = index + 1 === credentials.length ? 0 : index + 1
      decisions++
      now = START + Math.floor((decisions * 1000) / RATE)
      if (now >= nextFlushAt) {
        nextFlushAt += FLUSH_INTERVAL_MS
        flushes++
        await built.flush()
      }
    }
  }

  /** `count` measured decisions, and what happened meanwhile. */
  async function measure(count: number): Promise<SegmentReport> {
    accepted = 0
    flushes = 0
    const callsBefore = built.storeCalls()
    await drive(count)
    return { decisions: count, accepted, storeCalls: built.storeCalls() - callsBefore, flushes }
  }

  const warmupDecisions = WARMUP_PASSES * credentials.length
  await drive(warmupDecisions)
  if (accepted !== warmupDecisions) {
    throw new Error(`${variant}: ${warmupDecisions - accepted} warm-up decisions were refused`)
  }
  // Callgrind writes out I(warm-up) here, I(N) after the first stretch and I(3N) after the
  // second. Between two of these calls runs nothing but the decision loop.
  //
  // A scavenge costs as much as hundreds of decisions and comes every 20,000–30,000 of them,
  // so whether one more falls into a stretch would move its count by several percent. Each
  // stretch therefore starts from the same state — the young generation empty, the old one
  // collected and swept (set-up and warm-up leave plenty of garbage) — and holds the
  // scavenges its own allocations cause, no more. The forced collections are counted in the
  // stretch before.
  collectGarbage('full')
  collectGarbage('full')
  process.cpuUsage()
  const first = await measure(iterations)
  collectGarbage('young')
  process.cpuUsage()
  const second = await measure(2 * iterations)
  process.cpuUsage()
  const report: WorkerReport = {
    variant: `${framework}-${kind}`,
    iterations,
    warmupDecisions,
    segments: [first, second],
    simulatedSeconds: (now - simulatedStart) / 1000,
    hash,
  }
  process.stdout.write(`${JSON.stringify(report)}\n`)
  // No teardown: it would only add work (and, for Redis, timing-dependent I/O) to both runs.
  // The runner deletes this run's Redis keys.
  process.exit(0)
}

await main()
