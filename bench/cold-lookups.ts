/**
 * `npm run bench:cold`: how long one store lookup takes when no cache can answer it, with 10³,
 * 10⁴, 10⁵ and 10⁶ keys and sessions stored, on RedisStore and on SqlStore over PostgreSQL;
 * and proof that a cold authentication costs exactly one store round trip.
 *
 * Each size is its own data set, held at the same time as the others, so that the sizes can be
 * measured in interleaved rounds (a drift in the machine's speed then affects them alike):
 * on Redis, one logical database per size (each keyspace holds that size only); on PostgreSQL,
 * one set of tables per size (its own table prefix, after `migrate`). They are filled directly
 * in the store's own record format — RedisStore's key layout and field codec; SqlStore's rows,
 * with one `INSERT … SELECT generate_series` — under a prefix no other run uses, and dropped at
 * the end. `findKeyByHash` and `touchSession` are then called on the store itself, one at a
 * time, for records picked at random among all those stored, and timed.
 *
 * Environment: BENCH_COLD_SIZES (1000,10000,100000,1000000), BENCH_COLD_SAMPLES (4000 per
 * cell), BENCH_COLD_REDIS_DB (10: the first of the logical databases used, one per size),
 * REDIS_URL, DATABASE_URL (postgres://postgres@127.0.0.1:5432/test).
 */
import { createHash, randomBytes } from 'node:crypto'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { MemoryStore } from '../adapters/memory/index.js'
import { RedisStore } from '../adapters/redis/index.js'
import { createKeyLayout } from '../adapters/redis/key-layout.js'
import { keyToFields, sessionToFields } from '../adapters/redis/record-codec.js'
import { migrate, SqlStore } from '../adapters/sql/index.js'
import {
  createPortcullis,
  type Mode,
  type PortcullisStore,
  type StoredKey,
  type StoredSession,
} from '../src/index.js'
import { describeMachine } from './support/machine.js'
import { connectRedis, connectSubscriber, deleteByPrefix } from './support/redis.js'
import { markdownTable, RESULTS_FILE, writeResultsSection } from './support/results-file.js'
import { fixed, grouped, percentile, times } from './support/stats.js'

const SIZES = (process.env.BENCH_COLD_SIZES ?? '1000,10000,100000,1000000').split(',').map(Number)
const SAMPLES = Number(process.env.BENCH_COLD_SAMPLES ?? 4000)
const ROUNDS = 4
const WARMUP_PER_ROUND = 250
const FIRST_REDIS_DB = Number(process.env.BENCH_COLD_REDIS_DB ?? 10)
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

const TAG = randomBytes(4).toString('hex')
const REDIS_PREFIX = `portcullis-bench:cold:${TAG}:`
const tablePrefixOf = (index: number) => `pcbench_${TAG}_${index}_`
const DAY_MS = 24 * 60 * 60 * 1000

// ---------------------------------------------------------------------------------------------
// The records, derived from their index, so that any of them can be looked up again without
// keeping a million in memory. PostgreSQL computes the same values in SQL (see loadPostgres).

const md5 = (text: string) => createHash('md5').update(text).digest('hex')
const keyIdOf = (i: number) => `key_${md5(`${TAG}:key:${i}`).slice(0, 24)}`
const keyHashOf = (i: number) =>
  createHash('sha256').update(`${TAG}:secret:${i}`).digest('base64url')
const sessionIdOf = (i: number) => `cs_${md5(`${TAG}:session:${i}`).slice(0, 24)}`
const modeOf = (i: number): Mode => (i % 2 === 0 ? 'test' : 'live')

function keyOf(i: number, now: number): StoredKey {
  const publishable = i % 4 === 3
  return {
    id: keyIdOf(i),
    projectId: `proj_${i % 1000}`,
    type: publishable ? 'publishable' : 'secret',
    mode: modeOf(i),
    name: publishable ? 'Publishable key' : 'Secret key',
    hash: keyHashOf(i),
    prefix: `${publishable ? 'pk' : 'sk'}_${modeOf(i)}`,
    last4: md5(`${TAG}:last4:${i}`).slice(0, 4),
    allowedIps: publishable ? [] : [`10.${(i >> 8) & 255}.${i & 255}.0/24`],
    permissions: null,
    metadata: null,
    clientRestrictions: null,
    clientId: null,
    createdAt: now,
    expiresAt: null,
    lastUsedAt: null,
    rolledToId: null,
    rolledFromId: null,
    sealedSecret: null,
  }
}

function sessionOf(i: number, now: number): StoredSession {
  return {
    id: sessionIdOf(i),
    projectId: `proj_${i % 1000}`,
    mode: modeOf(i),
    clientId: `user_${i}`,
    createdAt: now,
    idleTimeoutMs: DAY_MS,
    expiresAt: now + DAY_MS,
    maxExpiresAt: now + 7 * DAY_MS,
    revokedAt: null,
  }
}

// ---------------------------------------------------------------------------------------------
// Data sets

type BackendName = 'Redis' | 'PostgreSQL'

/** One size on one backend, loaded and ready. */
interface Dataset {
  readonly backend: BackendName
  readonly size: number
  readonly store: PortcullisStore
  /** The cheapest round trip to the same server (PING, SELECT 1): the floor under a lookup. */
  readonly ping: () => Promise<unknown>
  readonly loadSeconds: number
  /** What the data set occupies on the server. */
  readonly footprint: string
  /** A second store on the same data whose backend round trips are counted. */
  countingStore(): Promise<{
    store: PortcullisStore
    roundTrips: () => number
    close(): Promise<void>
  }>
  close(): Promise<void>
}

async function openRedisDataset(size: number, database: number): Promise<Dataset> {
  const client = await connectRedis('cold lookups', database)
  const subscriber = await connectSubscriber(client, 'cold lookups')
  const store = new RedisStore({ client, subscriber, prefix: REDIS_PREFIX })
  const layout = createKeyLayout(REDIS_PREFIX)
  const usedMemory = async () =>
    Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1] ?? Number.NaN)
  // The garbage-collection TTLs a RedisStore would set: expiry + 1 day of retention.
  const sessionTtl = String(DAY_MS + DAY_MS)
  const clientTtl = String(7 * DAY_MS + DAY_MS)

  const memoryBefore = await usedMemory()
  const started = performance.now()
  const now = Date.now()
  const BATCH = 2000
  for (let start = 0; start < size; start += BATCH) {
    const pending: Promise<unknown>[] = []
    const send = (args: string[]) => pending.push(client.sendCommand(args))
    for (let i = start; i < Math.min(size, start + BATCH); i++) {
      const key = keyOf(i, now)
      send(['HSET', layout.keyRecord(key.id), ...keyToFields(key)])
      send(['SET', layout.keyHash(key.hash), key.id])
      send(['ZADD', layout.projectKeys(key.projectId), String(i + 1), key.id])
      const session = sessionOf(i, now)
      const sessionKey = layout.session(session.id)
      send(['HSET', sessionKey, ...sessionToFields(session)])
      send(['PEXPIRE', sessionKey, sessionTtl])
      const clientKey = layout.client(session)
      send(['SADD', clientKey, session.id])
      send(['PEXPIRE', clientKey, clientTtl])
    }
    await Promise.all(pending)
  }
  await client.sendCommand(['SET', layout.keySequence, String(size)])
  const loadSeconds = (performance.now() - started) / 1000
  const memory = (await usedMemory()) - memoryBefore
  const keysInDatabase = await client.dbSize()

  return {
    backend: 'Redis',
    size,
    store,
    ping: () => client.sendCommand(['PING']),
    loadSeconds,
    footprint: `Redis database ${database}: ${grouped(keysInDatabase)} Redis keys, used_memory +${fixed(memory / 2 ** 20, 0)} MiB`,
    async countingStore() {
      let count = 0
      const counting = {
        sendCommand(args: string[]) {
          count++
          return client.sendCommand(args)
        },
      }
      return {
        store: new RedisStore({ client: counting, subscriber, prefix: REDIS_PREFIX }),
        roundTrips: () => count,
        close: async () => {},
      }
    },
    async close() {
      await deleteByPrefix(client, REDIS_PREFIX)
      await Promise.all([client.quit(), subscriber.quit()])
    },
  }
}

/** A pg.Pool set up as the README's PostgreSQL section says. */
function createPool(): pg.Pool {
  const pool = new pg.Pool({
    connectionString: DATABASE_URL,
    connectionTimeoutMillis: 2000,
    statement_timeout: 5000,
  })
  pool.on('error', (error) => console.warn('postgres:', error.message))
  pool.on('connect', (client) =>
    client.on('error', (error) => console.warn('postgres:', error.message)),
  )
  return pool
}

async function openPostgresDataset(
  size: number,
  tablePrefix: string,
  pool: pg.Pool,
  db: Kysely<unknown>,
  loader: pg.Client,
): Promise<Dataset> {
  await migrate(db, { tablePrefix })
  const store = new SqlStore(db, { tablePrefix, listen: () => pool.connect() })
  const { keys, sessions, changes, migrations } = store.tables

  const started = performance.now()
  const now = Date.now()
  // The same values as keyOf() and sessionOf(), computed by PostgreSQL.
  await loader.query(
    `INSERT INTO ${keys} (id, project_id, type, mode, name, hash, prefix, last4, allowed_ips,
       client_id, created_at, expires_at, last_used_at, rolled_to_id, rolled_from_id, sealed_secret)
     SELECT 'key_' || substr(md5($1::text || ':key:' || i), 1, 24),
       'proj_' || (i % 1000),
       CASE WHEN i % 4 = 3 THEN 'publishable' ELSE 'secret' END,
       CASE WHEN i % 2 = 0 THEN 'test' ELSE 'live' END,
       CASE WHEN i % 4 = 3 THEN 'Publishable key' ELSE 'Secret key' END,
       rtrim(translate(encode(sha256(convert_to($1::text || ':secret:' || i, 'UTF8')), 'base64'),
         '+/', '-_'), '='),
       CASE WHEN i % 4 = 3 THEN 'pk_' ELSE 'sk_' END || CASE WHEN i % 2 = 0 THEN 'test' ELSE 'live' END,
       substr(md5($1::text || ':last4:' || i), 1, 4),
       CASE WHEN i % 4 = 3 THEN '[]'
         ELSE '["10.' || ((i >> 8) & 255) || '.' || (i & 255) || '.0/24"]' END,
       NULL, $2::bigint, NULL, NULL, NULL, NULL, NULL
     FROM generate_series(0, $3::bigint - 1) AS i`,
    [TAG, now, size],
  )
  await loader.query(
    `INSERT INTO ${sessions} (id, project_id, mode, client_id, created_at, idle_timeout_ms,
       expires_at, max_expires_at, revoked_at)
     SELECT 'cs_' || substr(md5($1::text || ':session:' || i), 1, 24),
       'proj_' || (i % 1000),
       CASE WHEN i % 2 = 0 THEN 'test' ELSE 'live' END,
       'user_' || i, $2::bigint, $3::bigint, $2::bigint + $3::bigint, $2::bigint + $4::bigint, NULL
     FROM generate_series(0, $5::bigint - 1) AS i`,
    [TAG, now, DAY_MS, 7 * DAY_MS, size],
  )
  // What autovacuum would soon do: statistics and visibility, so reads set no hint bits.
  await loader.query(`VACUUM ANALYZE ${keys}`)
  await loader.query(`VACUUM ANALYZE ${sessions}`)
  const loadSeconds = (performance.now() - started) / 1000
  const { rows } = await loader.query<{ keys: string; sessions: string }>(
    'SELECT pg_total_relation_size($1) AS keys, pg_total_relation_size($2) AS sessions',
    [keys, sessions],
  )
  const mib = (bytes: string | undefined) => fixed(Number(bytes) / 2 ** 20, 0)

  return {
    backend: 'PostgreSQL',
    size,
    store,
    ping: () => pool.query('SELECT 1'),
    loadSeconds,
    footprint: `PostgreSQL tables ${tablePrefix}*, with indexes: keys ${mib(rows[0]?.keys)} MiB, sessions ${mib(rows[0]?.sessions)} MiB`,
    async countingStore() {
      let count = 0
      const counted = new Kysely<unknown>({
        dialect: new PostgresDialect({ pool }),
        log: (event) => {
          if (event.level === 'query' || event.level === 'error') count++
        },
      })
      const countedStore = new SqlStore(counted, { tablePrefix, listen: () => pool.connect() })
      return { store: countedStore, roundTrips: () => count, close: () => countedStore.close() }
    },
    async close() {
      await store.close()
      for (const table of [keys, sessions, changes, migrations]) {
        await loader.query(`DROP TABLE IF EXISTS ${table}`)
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Timing

interface Timings {
  readonly key: number[]
  readonly touch: number[]
  readonly ping: number[]
}

/**
 * One round on one data set: warm-up calls, then `count` timed `findKeyByHash` and `count`
 * timed `touchSession` on random records. Each timed call follows a timed `ping`, so the floor
 * is measured under the same conditions, call by call.
 */
async function measureRound(dataset: Dataset, count: number, into: Timings): Promise<void> {
  const pick = () => Math.floor(Math.random() * dataset.size)
  const lookUp = (i: number) => dataset.store.findKeyByHash(keyHashOf(i))
  const touch = (i: number) => dataset.store.touchSession(sessionIdOf(i), Date.now())
  for (let n = 0; n < WARMUP_PER_ROUND; n++) {
    await dataset.ping()
    await lookUp(pick())
    await touch(pick())
  }
  for (const [operation, samples] of [
    [lookUp, into.key],
    [touch, into.touch],
  ] as const) {
    for (let n = 0; n < count; n++) {
      const i = pick()
      let started = performance.now()
      await dataset.ping()
      into.ping.push((performance.now() - started) * 1000)
      started = performance.now()
      const found = await operation(i)
      samples.push((performance.now() - started) * 1000)
      if (found === null) throw new Error(`${dataset.backend} ${dataset.size}: record ${i} missing`)
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Round trips of a cold authentication, through the public gate

interface RoundTripRow {
  readonly backend: string
  readonly request: string
  readonly result: string
  readonly storeCalls: string
  readonly roundTrips: number
}

/** Wraps a store so that every call of a contract method is counted, by method name. */
function countCalls(store: PortcullisStore) {
  const calls = new Map<string, number>()
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver)
      if (typeof value !== 'function' || typeof property !== 'string') return value
      // Called on the real store: its private fields do not exist on the proxy.
      return (...args: unknown[]) => {
        calls.set(property, (calls.get(property) ?? 0) + 1)
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { store: proxy, calls }
}

async function countRoundTrips(dataset: Dataset): Promise<RoundTripRow[]> {
  const sessionSecret = randomBytes(32)
  const counting = await dataset.countingStore()
  const { store, calls } = countCalls(counting.store)

  // Credentials made by another gate, closed before the measured one exists: nothing of them
  // is cached where it is used.
  const maker = createPortcullis({ store, sessionSecret })
  const { key } = await maker.keys.create({
    projectId: 'proj_roundtrip',
    type: 'secret',
    mode: 'test',
  })
  const made = await maker.authenticate(
    { headers: { authorization: `Bearer ${key}` }, remoteAddress: '127.0.0.1' },
    { credential: 'secret' },
  )
  if (!made.ok) throw made.error
  const { token } = await maker.sessions.create(made.auth, { clientId: 'user_roundtrip' })
  await maker.close()
  // A well-formed key, valid checksum, that no store holds.
  const stranger = createPortcullis({ store: new MemoryStore(), sessionSecret })
  const { key: unknownKey } = await stranger.keys.create({
    projectId: 'proj_other',
    type: 'secret',
    mode: 'test',
  })
  await stranger.close()

  const gate = createPortcullis({ store, sessionSecret })
  const rows: RoundTripRow[] = []
  const attempt = async (request: string, credential: 'secret' | 'session', value: string) => {
    // Whatever the gate does on its own (subscribing to watch(), say) is not counted.
    await new Promise((resolve) => setTimeout(resolve, 50))
    calls.clear()
    const before = counting.roundTrips()
    const result = await gate.authenticate(
      { headers: { authorization: `Bearer ${value}` }, remoteAddress: '127.0.0.1' },
      { credential },
    )
    rows.push({
      backend: dataset.backend,
      request,
      result: result.ok ? 'ok' : result.error.code,
      storeCalls: [...calls].map(([method, n]) => `${method} ×${n}`).join(', ') || 'none',
      roundTrips: counting.roundTrips() - before,
    })
  }
  await attempt('secret key, first use on this gate', 'secret', key)
  await attempt('the same key again', 'secret', key)
  await attempt('unknown key (valid checksum)', 'secret', unknownKey)
  await attempt('the same unknown key again', 'secret', unknownKey)
  await attempt('session token, first use on this gate', 'session', token)
  await attempt('the same token again', 'session', token)
  await gate.close()
  await counting.close()
  return rows
}

// ---------------------------------------------------------------------------------------------
// Report

interface Measured {
  readonly dataset: Dataset
  readonly timings: Timings
}

function renderLatencies(measured: readonly Measured[]): string {
  const backends: BackendName[] = ['Redis', 'PostgreSQL']
  const of = (backend: BackendName, size: number | undefined) =>
    measured.find((entry) => entry.dataset.backend === backend && entry.dataset.size === size)
  const p = (values: readonly number[] | undefined, q: number) =>
    values === undefined ? Number.NaN : percentile(values, q)
  const head = ['keys + sessions stored (each)']
  for (const backend of backends) {
    const floor = backend === 'Redis' ? 'PING' : 'SELECT 1'
    head.push(
      `${backend} findKeyByHash p50 / p99 µs`,
      `${backend} touchSession p50 / p99 µs`,
      `${backend} ${floor} p50 µs`,
    )
  }
  const rows = SIZES.map((size) => {
    const row = [grouped(size)]
    for (const backend of backends) {
      const timings = of(backend, size)?.timings
      const cell = (values: readonly number[] | undefined) =>
        `${fixed(p(values, 50), 0)} / ${fixed(p(values, 99), 0)}`
      row.push(cell(timings?.key), cell(timings?.touch), fixed(p(timings?.ping, 50), 0))
    }
    return row
  })
  const smallest = SIZES[0]
  const largest = SIZES.at(-1)
  const ratioRow = [
    `p50 at ${grouped(largest ?? 0)} ÷ p50 at ${grouped(smallest ?? 0)} (goal ≤ 1.2×)`,
  ]
  const netRow = ['the same, less the floor (p50 − floor p50)']
  for (const backend of backends) {
    const small = of(backend, smallest)?.timings
    const large = of(backend, largest)?.timings
    for (const series of ['key', 'touch', 'ping'] as const) {
      ratioRow.push(times(p(large?.[series], 50) / p(small?.[series], 50)))
      if (series === 'ping') {
        netRow.push('')
        continue
      }
      const net = (timings: Timings | undefined) => p(timings?.[series], 50) - p(timings?.ping, 50)
      netRow.push(times(net(large) / net(small)))
    }
  }
  const loadRow = ['load time (s)']
  for (const backend of backends) {
    loadRow.push(
      SIZES.map((size) => fixed(of(backend, size)?.dataset.loadSeconds ?? Number.NaN, 1)).join(
        ' · ',
      ),
      '',
      '',
    )
  }
  return markdownTable(head, [...rows, ratioRow, netRow, loadRow], 'lrrrrrr')
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const datasets: Dataset[] = []
  const pool = createPool()
  const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) })
  // Bulk loading runs on its own connection, without the pool's statement timeout.
  const loader = new pg.Client({ connectionString: DATABASE_URL })
  await loader.connect()
  try {
    for (const [index, size] of SIZES.entries()) {
      const dataset = await openRedisDataset(size, FIRST_REDIS_DB + index)
      datasets.push(dataset)
      console.log(`Redis ${grouped(size)}: loaded in ${fixed(dataset.loadSeconds, 1)} s`)
    }
    for (const [index, size] of SIZES.entries()) {
      const dataset = await openPostgresDataset(size, tablePrefixOf(index), pool, db, loader)
      datasets.push(dataset)
      console.log(`PostgreSQL ${grouped(size)}: loaded in ${fixed(dataset.loadSeconds, 1)} s`)
    }

    const measured: Measured[] = datasets.map((dataset) => ({
      dataset,
      timings: { key: [], touch: [], ping: [] },
    }))
    const perRound = Math.ceil(SAMPLES / ROUNDS)
    for (let round = 0; round < ROUNDS; round++) {
      // Sizes in a different order each round, so none is always measured first.
      const order = [...measured.slice(round), ...measured.slice(0, round)]
      for (const entry of order) await measureRound(entry.dataset, perRound, entry.timings)
      console.log(`round ${round + 1}/${ROUNDS} done`)
    }
    for (const { dataset, timings } of measured) {
      console.log(
        `${dataset.backend} ${grouped(dataset.size).padStart(9)}:` +
          ` findKeyByHash p50 ${fixed(percentile(timings.key, 50), 0)} µs p99 ${fixed(percentile(timings.key, 99), 0)} µs;` +
          ` touchSession p50 ${fixed(percentile(timings.touch, 50), 0)} µs p99 ${fixed(percentile(timings.touch, 99), 0)} µs;` +
          ` floor p50 ${fixed(percentile(timings.ping, 50), 0)} µs`,
      )
    }

    const roundTrips: RoundTripRow[] = []
    for (const backend of ['Redis', 'PostgreSQL'] as const) {
      const largest = datasets.filter((dataset) => dataset.backend === backend).at(-1)
      if (largest !== undefined) roundTrips.push(...(await countRoundTrips(largest)))
    }

    const { rows } = await loader.query<{ server_version: string }>('SHOW server_version')
    const redis = await connectRedis('version')
    const redisInfo = await redis.info('server')
    await redis.quit()
    const versions = [
      `Redis ${/redis_version:(\S+)/.exec(redisInfo)?.[1] ?? '?'}`,
      `PostgreSQL ${rows[0]?.server_version.split(' ')[0] ?? '?'}`,
    ]

    const markdown = `## Cold store lookups (\`npm run bench:cold\`)

${describeMachine(versions)}

One \`findKeyByHash\` / \`touchSession\` called directly on the store (nothing cached in front of
it), one at a time, for records picked uniformly at random among all those stored; client and
servers on the same machine (loopback). ${grouped(perRound * ROUNDS)} timed calls per cell, in
${ROUNDS} rounds that visit the sizes in rotated order (each round after ${WARMUP_PER_ROUND}
warm-up calls per data set). Each size is its own data set — a Redis logical database, a set of
PostgreSQL tables — holding that many keys and that many sessions, written in the store's own
format. \`touchSession\` is the real conditional write: a Lua script on Redis, an
\`UPDATE … RETURNING\` committed on its own (so with a WAL flush) on PostgreSQL. Before each timed
call, the cheapest round trip to the same server is timed too (Redis \`PING\`; \`SELECT 1\` through
the same pool): that "floor" column shows how much of a difference between sizes is the machine
rather than the store.

${renderLatencies(measured)}

${datasets.map((dataset) => `- ${grouped(dataset.size)}: ${dataset.footprint}`).join('\n')}

Cold authentication through the public gate: \`createPortcullis\` (default options) over the
largest data set's store, wrapped to count contract calls, on a client that counts backend round
trips (\`sendCommand\` calls for Redis, queries for PostgreSQL). Each credential was made by
another gate, so this gate has never seen it.

${markdownTable(
  ['store', 'request', 'result', 'store calls', 'backend round trips'],
  roundTrips.map((row) => [
    row.backend,
    row.request,
    row.result,
    row.storeCalls,
    String(row.roundTrips),
  ]),
  'llllr',
)}
`
    writeResultsSection('cold', markdown)
    console.log(`\n${markdown}\nwritten to ${RESULTS_FILE}`)
  } finally {
    for (const dataset of datasets) await dataset.close()
    await loader.end()
    await db.destroy()
  }
}

await main()
