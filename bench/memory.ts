/**
 * `npm run bench:memory` (node --expose-gc): the heap a MemoryStore needs for 10⁶ sessions,
 * what a gate's in-process cache keeps per session it has authenticated (default options), and
 * what allowlisted keys cost — the MemoryStore holding them plus the gate's warm cache — at
 * 10,000 and 100,000 keys, beside the hand-written SHA-256→Map toy.
 *
 * Sessions are inserted straight into the store (`insertSession`, as `gate.sessions.create`
 * does after signing), one end user each — the store's worst case, since it also indexes
 * sessions by client. Keys are created through the gate, as `npm run bench` creates them (each
 * secret key with its own three-entry IP allowlist), then each is authenticated once. The heap
 * is measured after full garbage collections, before and after.
 *
 * Environment: BENCH_MEMORY_SESSIONS (1000000), BENCH_MEMORY_GATE_SESSIONS (10000),
 * BENCH_MEMORY_KEYS (10000,100000).
 */
import { randomBytes } from 'node:crypto'
import { MemoryStore } from '../adapters/memory/index.js'
// The id generator gate.sessions.create uses, so the ids have the real shape and string layout.
import { newSessionId } from '../src/core/ids.js'
import { type AuthContext, createPortcullis, type StoredSession } from '../src/index.js'
import {
  BENCH_RESOURCES,
  createBenchKeys,
  modeOf,
  projectOf,
  warmSecretKeys,
} from './support/fixtures.js'
import { describeMachine } from './support/machine.js'
import { markdownTable, RESULTS_FILE, writeResultsSection } from './support/results-file.js'
import { fixed, grouped } from './support/stats.js'
import { sha256 } from './support/toy-hash.js'

const SESSIONS = Number(process.env.BENCH_MEMORY_SESSIONS ?? 1_000_000)
const GATE_SESSIONS = Number(process.env.BENCH_MEMORY_GATE_SESSIONS ?? 10_000)
const KEY_COUNTS = (process.env.BENCH_MEMORY_KEYS ?? '10000,100000').split(',').map(Number)
/** The goal for a stored and cached allowlisted key (issue 18). */
const KEY_TARGET_BYTES = 2048
const DAY_MS = 24 * 60 * 60 * 1000
const MIB = 2 ** 20

const collect = globalThis.gc
if (collect === undefined) throw new Error('run with node --expose-gc (npm run bench:memory)')

/** Heap in use after full collections (several, so that weak references and finalizers settle). */
async function settledHeap(): Promise<number> {
  for (let n = 0; n < 3; n++) {
    collect?.()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().heapUsed
}

const projects = Array.from({ length: 1000 }, (_, i) => `proj_${i}`)

async function measureStore(): Promise<{ perSession: number; total: number; seconds: number }> {
  const store = new MemoryStore({ maxSessions: SESSIONS + 1000 })
  const before = await settledHeap()
  const started = performance.now()
  const now = Date.now()
  for (let i = 0; i < SESSIONS; i++) {
    const session: StoredSession = {
      id: newSessionId(),
      projectId: projects[i % projects.length] as string,
      mode: i % 2 === 0 ? 'test' : 'live',
      // As a client id arrives in a JSON body: a flat string (20 characters here).
      clientId: randomBytes(15).toString('base64url'),
      createdAt: now,
      idleTimeoutMs: DAY_MS,
      expiresAt: now + DAY_MS,
      maxExpiresAt: now + 7 * DAY_MS,
      revokedAt: null,
    }
    await store.insertSession(session)
  }
  const seconds = (performance.now() - started) / 1000
  const after = await settledHeap()
  if (store.size.sessions !== SESSIONS) {
    throw new Error(`the store holds ${store.size.sessions} sessions, not ${SESSIONS}`)
  }
  const total = after - before
  store.close()
  return { perSession: total / SESSIONS, total, seconds }
}

/**
 * Heap growth while a gate authenticates `GATE_SESSIONS` sessions once each (tokens issued
 * beforehand, so they and the store's records are already in the "before").
 */
async function authenticationGrowth(cache: boolean): Promise<number> {
  const gate = createPortcullis({
    store: new MemoryStore({ maxSessions: GATE_SESSIONS + 1000 }),
    sessionSecret: randomBytes(32),
    ...(cache ? {} : { cache: false as const }),
  })
  const { key } = await gate.keys.create({ projectId: 'proj_memory', type: 'secret', mode: 'test' })
  const secret = await gate.authenticate(
    { headers: { authorization: `Bearer ${key}` }, remoteAddress: '127.0.0.1' },
    { credential: 'secret' },
  )
  if (!secret.ok) throw secret.error
  const auth: AuthContext = secret.auth
  const tokens: string[] = []
  for (let i = 0; i < GATE_SESSIONS; i++) {
    tokens.push((await gate.sessions.create(auth, { clientId: `user_${i}` })).token)
  }
  const before = await settledHeap()
  for (const token of tokens) {
    const result = await gate.authenticate(
      { headers: { authorization: `Bearer ${token}` } },
      { credential: 'session' },
    )
    if (!result.ok) throw result.error
  }
  const after = await settledHeap()
  await gate.close()
  return after - before
}

/**
 * What the gate's in-process cache holds per session: the growth with default options minus
 * the growth with `cache: false`, so whatever the store itself does on a touch cancels out.
 */
async function measureGateCache(): Promise<{ perSession: number; total: number }> {
  const withoutCache = await authenticationGrowth(false)
  const withCache = await authenticationGrowth(true)
  const total = withCache - withoutCache
  return { perSession: total / GATE_SESSIONS, total }
}

interface KeyFootprint {
  readonly count: number
  /** The MemoryStore's records and indexes. */
  readonly store: number
  /** What the gate added while it authenticated each key once: cache entries, usage marks. */
  readonly gate: number
  /** Growth of the heap V8 reserved (`heapTotal`), store and gate, plaintexts included. */
  readonly reserved: number
  /** The SHA-256→Map toy holding the same number of keys. */
  readonly toy: number
  readonly seconds: number
}

/**
 * Heap per allowlisted secret key: a gate over a MemoryStore creates `count` keys (each with
 * its own three-entry allowlist, as in `npm run bench`), then authenticates each once, with a
 * cache large enough to keep every one. The plaintext keys the bench holds on to are measured
 * apart (by dropping them at the end) and left out.
 */
async function measureKeys(count: number): Promise<KeyFootprint> {
  const gate = createPortcullis({
    store: new MemoryStore({ maxKeys: count + 1000 }),
    sessionSecret: randomBytes(32),
    resources: [...BENCH_RESOURCES],
    // Every key stays cached: the default bound is 10,000 entries.
    cache: { maxEntries: count },
  })
  const started = performance.now()
  const empty = await settledHeap()
  const emptyReserved = process.memoryUsage().heapTotal
  let plaintexts = await createBenchKeys(gate, 'secret', count)
  const stored = await settledHeap()
  await warmSecretKeys(gate, plaintexts)
  const warm = await settledHeap()
  const warmReserved = process.memoryUsage().heapTotal
  plaintexts = []
  const withoutPlaintexts = await settledHeap()
  const plaintextBytes = warm - withoutPlaintexts
  const seconds = (performance.now() - started) / 1000
  await gate.close()

  // The toy: plaintexts first (not counted), then the Map of SHA-256 → { projectId, mode }.
  let toyKeys = Array.from(
    { length: count },
    (_, i) =>
      `sk_${modeOf(i)}_${randomBytes(40).toString('base64url').replace(/[-_]/g, 'x').slice(0, 49)}`,
  )
  const toyBefore = await settledHeap()
  const byHash = new Map<string, { projectId: string; mode: string }>()
  toyKeys.forEach((key, i) => {
    byHash.set(sha256(key), { projectId: projectOf(i), mode: modeOf(i) })
  })
  const toyAfter = await settledHeap()
  if (byHash.size !== count) throw new Error(`the toy holds ${byHash.size} keys, not ${count}`)
  toyKeys = []
  return {
    count,
    store: (stored - empty - plaintextBytes) / count,
    gate: (warm - stored) / count,
    reserved: (warmReserved - emptyReserved) / count,
    toy: (toyAfter - toyBefore) / count,
    seconds,
  }
}

const store = await measureStore()
console.log(
  `MemoryStore: ${grouped(SESSIONS)} sessions in ${fixed(store.seconds, 1)} s, heap +${fixed(store.total / MIB, 1)} MiB, ${fixed(store.perSession, 0)} bytes per session`,
)
const gate = await measureGateCache()
console.log(
  `gate cache: ${grouped(GATE_SESSIONS)} sessions authenticated once each, heap +${fixed(gate.total / MIB, 1)} MiB, ${fixed(gate.perSession, 0)} bytes per session`,
)
const keyFootprints: KeyFootprint[] = []
for (const count of KEY_COUNTS) {
  const footprint = await measureKeys(count)
  keyFootprints.push(footprint)
  console.log(
    `keys: ${grouped(count)} allowlisted secret keys, ${grouped(footprint.store)} bytes per key in the MemoryStore + ${grouped(footprint.gate)} in the gate (warm) = ${grouped(footprint.store + footprint.gate)}; toy ${grouped(footprint.toy)} (${fixed(footprint.seconds, 1)} s)`,
  )
}

const keyRows = keyFootprints.map((footprint) => {
  const total = footprint.store + footprint.gate
  return [
    grouped(footprint.count),
    `${grouped(footprint.store)} bytes`,
    `${grouped(footprint.gate)} bytes`,
    `${grouped(total)} bytes`,
    `${grouped(footprint.toy)} bytes`,
    `${fixed(total / footprint.toy, 1)}×`,
    `${grouped(footprint.reserved)} bytes`,
    total <= KEY_TARGET_BYTES ? 'met' : 'not met',
  ]
})

const markdown = `## Memory (\`npm run bench:memory\`)

${describeMachine()}

${markdownTable(
  ['what', 'sessions', 'heap growth', 'per session'],
  [
    [
      'MemoryStore holding the sessions (one end user each)',
      grouped(SESSIONS),
      `${fixed(store.total / MIB, 1)} MiB`,
      `${grouped(store.perSession)} bytes`,
    ],
    [
      "a gate's in-process cache (default options) after authenticating each session once",
      grouped(GATE_SESSIONS),
      `${fixed(gate.total / MIB, 1)} MiB`,
      `${grouped(gate.perSession)} bytes`,
    ],
  ],
  'lrrr',
)}

\`process.memoryUsage().heapUsed\` after three full collections (\`--expose-gc\`), before and
after. Store: sessions inserted with \`insertSession\` (ids of the real shape, 1,000 projects,
both modes, a distinct client each; \`maxSessions\` ${grouped(SESSIONS + 1000)}); inserting them
took ${fixed(store.seconds, 1)} s. Cache: a gate over a MemoryStore issues the tokens first; the
heap growth while it authenticates each once (default options), minus the same growth for a
gate with \`cache: false\`, is what its cache keeps. ${grouped(GATE_SESSIONS)} is the cache's
default bound (\`cache.maxEntries\`), so this is also the most it holds by default.

Allowlisted keys: a gate over a MemoryStore creates each key with \`gate.keys.create\` (secret
keys in 1,000 projects and both modes, each with its own three-entry IP allowlist, as
\`npm run bench\` creates them), then authenticates each once; its cache is sized to keep every
key (\`cache.maxEntries\` = the key count; the default is 10,000). "MemoryStore" is the heap
growth while the keys are created, less the plaintext keys the benchmark holds (measured by
dropping them at the end); "gate, warm" is the growth while each is authenticated once — cache
entries (with the parsed allowlist and the accepted result) and pending usage marks. The toy
is a \`Map\` from SHA-256 (base64url) to \`{ projectId, mode }\`: no allowlist, no record beyond
that. The per-key figures and the target are in live heap (\`heapUsed\`); "heapTotal growth"
is what V8 reserved meanwhile (live objects, garbage not yet collected from the young
generation, free space in its pages; the plaintexts included), closer to what the process's
resident size grows by.

${markdownTable(
  [
    'keys',
    'MemoryStore per key',
    'gate, warm, per key',
    'total per key',
    'SHA-256→Map toy per key',
    '× toy',
    'heapTotal growth per key',
    `target ≤ ${grouped(KEY_TARGET_BYTES)} bytes`,
  ],
  keyRows,
  'rrrrrrrl',
)}
`
writeResultsSection('memory', markdown)
console.log(`\n${markdown}\nwritten to ${RESULTS_FILE}`)
