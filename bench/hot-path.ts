/**
 * `npm run bench:hot`: the warm decision in-process, without HTTP. 10,000 secret keys, each
 * with its own three-entry allowlist, presented in turn through the Koa middleware (the public
 * API, with a minimal context) and through `gate.authenticate`, against the hand-written
 * SHA-256→Map toy doing the same per-request work it does in `npm run bench`; and 10,000
 * restricted keys, allowlisted the same way, on a route naming a permission. Prints the median
 * over rounds of the time per call. Last, the verified-key cache's eviction: a working set
 * twice the cache's size, so that every access misses and evicts, at 10,000 and 100,000 entries.
 *
 * Environment: BENCH_ROUNDS (7), BENCH_CREDENTIALS (10000), BENCH_PASSES (20 per round).
 */
import { randomBytes } from 'node:crypto'
import { MemoryStore } from '../adapters/memory/index.js'
import { KeyTable } from '../src/core/key-table.js'
import { createPortcullis } from '../src/index.js'
import { requirePublishableKey, requireSecretKey } from '../src/koa/index.js'
import { makeKey } from '../src/testing/fixtures.js'
import { sha256 } from './support/toy-hash.js'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7)
const COUNT = Number(process.env.BENCH_CREDENTIALS ?? 10_000)
const PASSES = Number(process.env.BENCH_PASSES ?? 20)

const gate = createPortcullis({
  store: new MemoryStore(),
  sessionSecret: randomBytes(32),
  resources: ['charges', 'customers'],
  // Room for every set of keys: a pass over one must not evict another.
  cache: { maxEntries: 4 * COUNT },
})
const toyMap = new Map<string, { projectId: string; mode: string }>()
const headers: { authorization: string }[] = []
const restrictedHeaders: { authorization: string }[] = []
const publishableHeaders: { authorization: string; origin: string }[] = []
const originLimitedHeaders: { authorization: string; origin: string }[] = []
const origin = 'https://eu.shop.example.com'
for (let i = 0; i < COUNT; i++) {
  const fields = {
    projectId: `proj_${i % 1000}`,
    mode: i % 2 === 0 ? ('test' as const) : ('live' as const),
    allowedIps: ['203.0.113.0/24', `10.${(i >> 8) & 255}.${i & 255}.0/24`, '127.0.0.1'],
  }
  const { key, record } = await gate.keys.create({ ...fields, type: 'secret' })
  headers.push({ authorization: `Bearer ${key}` })
  toyMap.set(sha256(key), { projectId: record.projectId, mode: record.mode })
  const restricted = await gate.keys.create({
    ...fields,
    type: 'restricted',
    permissions: { charges: 'write', customers: 'read' },
  })
  restrictedHeaders.push({ authorization: `Bearer ${restricted.key}` })
  const publishable = await gate.keys.create({ ...fields, allowedIps: [], type: 'publishable' })
  publishableHeaders.push({ authorization: `Bearer ${publishable.key}`, origin })
  const limited = await gate.keys.create({
    ...fields,
    allowedIps: [],
    type: 'publishable',
    allowedOrigins: ['https://app.example.com', 'https://*.shop.example.com'],
  })
  originLimitedHeaders.push({ authorization: `Bearer ${limited.key}`, origin })
}

const socket = { remoteAddress: '127.0.0.1' }
const contextOf = (h: { authorization: string }) => ({
  request: { headers: h },
  req: { socket, rawHeaders: ['Authorization', h.authorization] },
  state: {} as Record<string, unknown>,
  status: 404,
  body: undefined as unknown,
  set() {},
})
const contexts = headers.map(contextOf)
const restrictedContexts = restrictedHeaders.map(contextOf)
const publishableContexts = publishableHeaders.map(contextOf)
const originLimitedContexts = originLimitedHeaders.map(contextOf)
const next = () => Promise.resolve()
const middleware = requireSecretKey(gate)
const permitted = requireSecretKey(gate, { permission: 'charges:write' })
const forPages = requirePublishableKey(gate)

function toy(ctx: (typeof contexts)[number]): void {
  const header = ctx.request.headers.authorization
  const record = header.startsWith('Bearer ') ? toyMap.get(sha256(header.slice(7))) : undefined
  if (record === undefined) {
    ctx.status = 401
    return
  }
  ctx.state.toy = record
}

/** µs per call of one pass over every credential, `PASSES` times. */
async function timeIt(run: () => Promise<void> | void): Promise<number> {
  const started = performance.now()
  for (let pass = 0; pass < PASSES; pass++) await run()
  return ((performance.now() - started) * 1000) / (PASSES * COUNT)
}

const variants: Record<string, () => Promise<void> | void> = {
  'SHA-256→Map toy': () => {
    for (const ctx of contexts) toy(ctx)
  },
  'Koa requireSecretKey (allowlist)': async () => {
    for (const ctx of contexts) {
      const settled = middleware(ctx, next)
      // A cached decision calls next() at once; only a miss needs the promise.
      if (ctx.state.auth === undefined) await settled
      ctx.state.auth = undefined
    }
  },
  'Koa requireSecretKey { permission }, restricted keys': async () => {
    for (const ctx of restrictedContexts) {
      const settled = permitted(ctx, next)
      if (ctx.state.auth === undefined) await settled
      ctx.state.auth = undefined
    }
  },
  'Koa requirePublishableKey (Origin sent)': async () => {
    for (const ctx of publishableContexts) {
      const settled = forPages(ctx, next)
      if (ctx.state.auth === undefined) await settled
      ctx.state.auth = undefined
    }
  },
  'Koa requirePublishableKey, limited to origins': async () => {
    for (const ctx of originLimitedContexts) {
      const settled = forPages(ctx, next)
      if (ctx.state.auth === undefined) await settled
      ctx.state.auth = undefined
    }
  },
  'gate.authenticate (awaited)': async () => {
    for (const ctx of contexts) {
      await gate.authenticate(
        { headers: ctx.request.headers, remoteAddress: '127.0.0.1' },
        { credential: 'secret' },
      )
    }
  },
}

const samples = new Map<string, number[]>(Object.keys(variants).map((name) => [name, []]))
for (const run of Object.values(variants)) await timeIt(run) // warm-up: fills the cache, JIT
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, run] of Object.entries(variants)) samples.get(name)?.push(await timeIt(run))
}
const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN
}
console.log(
  `Node ${process.version} · ${COUNT.toLocaleString('en-US')} keys · ${ROUNDS} rounds × ${PASSES} passes`,
)
for (const [name, values] of samples) {
  const low = Math.min(...values).toFixed(2)
  const high = Math.max(...values).toFixed(2)
  console.log(`${name.padEnd(36)} ${median(values).toFixed(2)} µs per call (${low}–${high})`)
}
await gate.close()

/** µs per access of a full cache that every access misses: a lookup, then an eviction. */
function evictionCost(max: number): number {
  const table = new KeyTable(max)
  const record = Object.freeze(makeKey(Date.now()))
  const names = Array.from({ length: 2 * max }, (_, i) => sha256(`key ${i}`))
  const pass = () => {
    for (const name of names) if (table.get(name) === undefined) table.set(name, record, 0)
  }
  pass() // fills the cache and warms up
  const started = performance.now()
  for (let round = 0; round < 3; round++) pass()
  return ((performance.now() - started) * 1000) / (3 * names.length)
}
for (const max of [10_000, 100_000]) {
  const label = `cache eviction, ${max.toLocaleString('en-US')} entries`
  console.log(`${label.padEnd(36)} ${evictionCost(max).toFixed(2)} µs per miss (working set 2×)`)
}
