/**
 * Safe defaults across instances. Each store is constructed the obvious way (a client, or a
 * Kysely instance, and nothing about change feeds): two app instances — two stores on one
 * backend, two gates, real clocks, default cache options — and a key deleted, a key rolled and
 * a session revoked on instance A must be refused by instance B, which had them cached, within
 * 1 s. Each write is made just after B received a change, the worst moment for a store that
 * polls. A store that cannot deliver changes at all must make the gate say so, once.
 *
 *   npx vitest run test/default-construction.test.ts
 */
import { randomBytes } from 'node:crypto'
import { Redis as IoRedis } from 'ioredis'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { MemoryStore } from '../adapters/memory/index.js'
import { RedisStore } from '../adapters/redis/index.js'
import {
  connectAdmin,
  deleteUnder,
  ioRedisOptions,
  nodeRedisOptions,
  randomPrefix,
} from '../adapters/redis/test-support/drivers.js'
import { migrate, SqlStore } from '../adapters/sql/index.js'
import {
  createMysqlDatabase,
  createPostgresDatabase,
  createSqliteDatabase,
  type TestDatabase,
} from '../adapters/sql/test-support/databases.js'
import {
  type AuthenticateRequest,
  type CredentialKind,
  createPortcullis,
  type Portcullis,
  type PortcullisStore,
  type StoreChange,
  StoreUnavailableError,
} from '../src/index.js'
import { randomProjectId } from '../src/testing/index.js'
import { overriding } from './helpers.js'
import { serviceAvailable, serviceUrls } from './support/services.js'

/** The bound every store's default construction must meet. */
const BOUND_MS = 1000
/** How often instance B is asked while waiting. */
const ASK_EVERY_MS = 20

const bearer = (credential: string): AuthenticateRequest => ({
  headers: { authorization: `Bearer ${credential}` },
  remoteAddress: '203.0.113.7',
})

/**
 * The store as instance B's gate sees it, observed: a count of the calls the gate makes (so a
 * test can tell a cache hit) and a signal when the gate's watch() listener is handed a change.
 */
function observed(store: PortcullisStore): {
  store: PortcullisStore
  calls: () => number
  nextChange: () => Promise<void>
  /** Resolves when the gate's watch() has subscribed. */
  subscribed: Promise<unknown>
} {
  let calls = 0
  let onWatch: (attempt: Promise<unknown>) => void = () => {}
  // Resolved with the gate's watch() call, so it settles as that call does.
  const subscribed = new Promise<unknown>((resolve) => {
    onWatch = resolve
  })
  let waiting: (() => void)[] = []
  const heard = () => {
    const resolve = waiting
    waiting = []
    for (const done of resolve) done()
  }
  const proxy = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      if (property === 'watch') {
        return (listener: (change: StoreChange) => void) => {
          const unwatch = (value as NonNullable<PortcullisStore['watch']>).call(
            target,
            (change) => {
              listener(change)
              heard()
            },
          )
          onWatch(unwatch)
          return unwatch
        }
      }
      return (...args: unknown[]) => {
        calls++
        return (value as (...args: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return {
    store: proxy,
    calls: () => calls,
    nextChange: () => new Promise<void>((resolve) => waiting.push(resolve)),
    subscribed,
  }
}

/** Two app instances on one backend; `close` releases both and everything the run created. */
interface Instances {
  readonly a: PortcullisStore
  readonly b: PortcullisStore
  close(): Promise<void>
}

interface Backend {
  readonly name: string
  readonly available: boolean
  open(): Promise<Instances>
}

const redisUp = await serviceAvailable('redis')
const postgresUp = await serviceAvailable('postgres')
const mysqlUp = await serviceAvailable('mysql')

/** RedisStore given a command client and nothing else (the prefix only keeps runs apart). */
function redisBackend(name: string, connect: () => Promise<RedisClientPair>): Backend {
  return {
    name,
    available: redisUp,
    async open() {
      const prefix = randomPrefix('portcullis-defaults')
      const [a, b] = [await connect(), await connect()]
      const storeA = new RedisStore({ client: a.client, prefix })
      const storeB = new RedisStore({ client: b.client, prefix })
      return {
        a: storeA,
        b: storeB,
        async close() {
          await storeA.close()
          await storeB.close()
          await a.close()
          await b.close()
          const admin = await connectAdmin(serviceUrls.redis)
          await deleteUnder(admin, prefix)
          await admin.close()
        },
      }
    },
  }
}

interface RedisClientPair {
  readonly client: ConstructorParameters<typeof RedisStore>[0]['client']
  close(): Promise<void>
}

/**
 * SqlStore given a Kysely instance and nothing else that touches its change feed (the table
 * prefix only keeps runs apart). Each instance has its own pool (or its own SQLite handle on
 * the one file).
 */
function sqlBackend(name: string, available: boolean, create: () => TestDatabase): Backend {
  return {
    name,
    available,
    async open() {
      const database = create()
      const [a, b] = [database.connect(), database.connect()]
      await migrate(a.db, { tablePrefix: database.prefix })
      const storeA = new SqlStore(a.db, { tablePrefix: database.prefix })
      const storeB = new SqlStore(b.db, { tablePrefix: database.prefix })
      return {
        a: storeA,
        b: storeB,
        async close() {
          await storeA.close()
          await storeB.close()
          await database.drop()
        },
      }
    },
  }
}

const BACKENDS: Backend[] = [
  redisBackend('RedisStore, node-redis createClient() only', async () => {
    const { createClient } = await import('redis')
    const client = createClient(nodeRedisOptions(serviceUrls.redis))
    client.on('error', () => {})
    await client.connect()
    return { client, close: () => client.close() }
  }),
  redisBackend('RedisStore, ioredis new Redis() only', async () => {
    const client = new IoRedis(serviceUrls.redis, ioRedisOptions)
    client.on('error', () => {})
    await client.connect()
    return {
      client,
      close: async () => {
        await client.quit()
      },
    }
  }),
  sqlBackend('SqlStore, PostgreSQL (PostgresDialect over a pg.Pool)', postgresUp, () =>
    createPostgresDatabase(),
  ),
  sqlBackend('SqlStore, MariaDB/MySQL (MysqlDialect over a mysql2 pool)', mysqlUp, () =>
    createMysqlDatabase(),
  ),
  sqlBackend('SqlStore, SQLite (one file, two Kysely instances)', true, () =>
    createSqliteDatabase(),
  ),
]

/** Resolves as `promise` does, or fails with `what` after `ms`. */
async function withinMs<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/** One credential B has cached, and the write on A that must make B refuse it. */
interface Revocation {
  readonly what: string
  readonly credential: string
  readonly kind: CredentialKind
  readonly refusedWith: string
  revoke(): Promise<unknown>
}

/** Authenticates on B twice and checks the second answer came from B's cache. */
async function cacheOnB(gate: Portcullis, calls: () => number, revocation: Revocation) {
  const first = await gate.authenticate(bearer(revocation.credential), {
    credential: revocation.kind,
  })
  expect(first.ok, `${revocation.what}: B accepts it before`).toBe(true)
  const before = calls()
  const again = await gate.authenticate(bearer(revocation.credential), {
    credential: revocation.kind,
  })
  expect(again.ok).toBe(true)
  expect(calls(), `${revocation.what}: B answered from its cache`).toBe(before)
}

/**
 * Runs A's write and asks B every ASK_EVERY_MS until it refuses; resolves with the time from
 * the start of A's write to B's refusal, or fails with the time waited.
 */
async function refusedWithin(gate: Portcullis, revocation: Revocation): Promise<number> {
  const started = performance.now()
  await revocation.revoke()
  for (;;) {
    const answer = await gate.authenticate(bearer(revocation.credential), {
      credential: revocation.kind,
    })
    const elapsed = performance.now() - started
    if (elapsed > BOUND_MS) {
      throw new Error(
        `${revocation.what}: instance B ${answer.ok ? 'still accepted' : 'first refused'} it ${elapsed.toFixed(0)} ms after instance A's write (bound ${BOUND_MS} ms)`,
      )
    }
    if (!answer.ok) {
      expect(answer.error.code, revocation.what).toBe(revocation.refusedWith)
      return elapsed
    }
    await new Promise((resolve) => setTimeout(resolve, ASK_EVERY_MS))
  }
}

for (const backend of BACKENDS) {
  describe.skipIf(!backend.available)(backend.name, () => {
    it(`instance B refuses what instance A deleted, rolled or revoked within ${BOUND_MS} ms`, async () => {
      const instances = await backend.open()
      const warnings: unknown[] = []
      const onError = (error: unknown) => warnings.push(error)
      const sessionSecret = randomBytes(32)
      const onB = observed(instances.b)
      const gateA = createPortcullis({ store: instances.a, sessionSecret, onError })
      const gateB = createPortcullis({ store: onB.store, sessionSecret, onError })
      try {
        // Measured from when B listens: before that (start-up), B's cache keeps entries for
        // at most the ttl without a feed (5 s), which the gate warning tests cover.
        await withinMs(onB.subscribed, 5000, "instance B's gate did not subscribe to watch()")
        const projectId = randomProjectId()
        const { test } = await gateA.projects.provision(projectId)
        const server = await gateA.authenticate(bearer(test.secretKey.key), {
          credential: 'secret',
        })
        if (!server.ok) throw server.error
        const newKey = () => gateA.keys.create({ projectId, type: 'secret', mode: 'test' })
        const deleted = await newKey()
        const rolled = await newKey()
        const spare = await newKey()
        const { token, session } = await gateA.sessions.create(server.auth, {
          clientId: `user_${randomBytes(4).toString('hex')}`,
        })
        const revocations: Revocation[] = [
          {
            what: 'a deleted key',
            credential: deleted.key,
            kind: 'secret',
            refusedWith: 'api_key_invalid',
            revoke: () => gateA.keys.delete(deleted.record.id),
          },
          {
            what: 'a rolled key',
            credential: rolled.key,
            kind: 'secret',
            refusedWith: 'api_key_expired',
            revoke: () => gateA.keys.roll(rolled.record.id),
          },
          {
            what: 'a revoked session',
            credential: token,
            kind: 'session',
            refusedWith: 'session_revoked',
            revoke: () => gateA.sessions.revoke(session.id),
          },
        ]
        for (const revocation of revocations) await cacheOnB(gateB, onB.calls, revocation)

        const delays: string[] = []
        for (const revocation of revocations) {
          // The worst moment for a store that polls: A's write lands just after B read the
          // changes. So A first makes a harmless announced change, and writes as B hears it.
          const heard = onB.nextChange()
          await gateA.keys.setAllowedIps(spare.record.id, [])
          await withinMs(heard, 5000, "instance B's watch() delivered no change from instance A")
          const elapsed = await refusedWithin(gateB, revocation)
          delays.push(`${revocation.what} ${elapsed.toFixed(1)} ms`)
        }
        console.log(`[defaults] ${backend.name}: B refused ${delays.join(', ')}`)
        expect(warnings).toEqual([])
      } finally {
        await gateA.close()
        await gateB.close()
        await instances.close()
      }
    }, 30_000)
  })
}

/** A MemoryStore whose `watch` is taken away or replaced. */
function withWatch(watch: PortcullisStore['watch']): PortcullisStore {
  return overriding(new MemoryStore({ sweepIntervalMs: 0 }), { watch })
}

const codeOf = (value: unknown) => (value as { code?: unknown }).code

describe('a gate whose store cannot tell it about other instances', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('warns once per gate through process.emitWarning, naming the bound and the fix', async () => {
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const store = withWatch(undefined)
    const gate = createPortcullis({ store, sessionSecret: randomBytes(32) })
    const { test } = await gate.projects.provision(randomProjectId())
    for (let i = 0; i < 5; i++) {
      await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
    }
    await gate.close()
    expect(emitted).toHaveBeenCalledTimes(1)
    const [message, options] = emitted.mock.calls[0] as [string, { code?: string; type?: string }]
    expect(options).toMatchObject({ code: 'PORTCULLIS_NO_CHANGE_FEED', type: 'PortcullisWarning' })
    expect(message).toMatch(/no change feed/)
    expect(message).toMatch(/on another instance is still accepted by this one for up to 5000 ms/)
    expect(message).toMatch(/Use a store with watch\(\)/)

    // Another gate is another warning; it names the ttl in force.
    const second = createPortcullis({
      store,
      sessionSecret: randomBytes(32),
      cache: { ttlMs: 2500 },
    })
    await second.close()
    expect(emitted).toHaveBeenCalledTimes(2)
    expect(String(emitted.mock.calls[1]?.[0])).toMatch(/up to 2500 ms/)
  })

  it('sends the warning to onError instead, once, when one is given', async () => {
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const reported: unknown[] = []
    const gate = createPortcullis({
      store: withWatch(undefined),
      sessionSecret: randomBytes(32),
      onError: (error) => reported.push(error),
    })
    await gate.projects.provision(randomProjectId())
    await gate.close()
    expect(reported).toHaveLength(1)
    expect(reported[0]).toBeInstanceOf(Error)
    expect(codeOf(reported[0])).toBe('PORTCULLIS_NO_CHANGE_FEED')
    expect(emitted).not.toHaveBeenCalled()
  })

  it('says nothing when the cache is off (nothing is kept to go stale) or the feed works', async () => {
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const uncached = createPortcullis({
      store: withWatch(undefined),
      sessionSecret: randomBytes(32),
      cache: false,
    })
    const watched = createPortcullis({
      store: new MemoryStore({ sweepIntervalMs: 0 }),
      sessionSecret: randomBytes(32),
    })
    await uncached.close()
    await watched.close()
    expect(emitted).not.toHaveBeenCalled()
  })

  it('warns once when watch() fails at start, keeps trying, and takes the feed when it comes', async () => {
    const emitted = vi.spyOn(process, 'emitWarning').mockImplementation(() => {})
    const shared = new MemoryStore({ sweepIntervalMs: 0 })
    let attempts = 0
    const flaky = new Proxy(shared, {
      get(target, property) {
        if (property === 'watch') {
          return (listener: Parameters<NonNullable<PortcullisStore['watch']>>[0]) => {
            attempts++
            if (attempts < 3) {
              return Promise.reject(new StoreUnavailableError('the store is down'))
            }
            return target.watch(listener)
          }
        }
        const value: unknown = Reflect.get(target, property, target)
        return typeof value === 'function' ? value.bind(target) : value
      },
    })
    const sessionSecret = randomBytes(32)
    const a = createPortcullis({ store: shared, sessionSecret })
    const b = createPortcullis({ store: flaky, sessionSecret })
    try {
      const { test } = await a.projects.provision(randomProjectId())
      // Retries after 1 s, then 2 s: the third attempt subscribes.
      await vi.waitFor(() => expect(attempts).toBe(3), { timeout: 5000, interval: 50 })
      expect(emitted).toHaveBeenCalledTimes(1)
      expect(String(emitted.mock.calls[0]?.[0])).toMatch(
        /did not start: the store is down.*retried in the background/,
      )
      // Now subscribed: a change on A reaches B's cache at once, not after the ttl.
      const key = test.secretKey
      expect((await b.authenticate(bearer(key.key), { credential: 'secret' })).ok).toBe(true)
      await a.keys.delete(key.record.id)
      const after = await b.authenticate(bearer(key.key), { credential: 'secret' })
      expect(after.ok).toBe(false)
    } finally {
      await a.close()
      await b.close()
    }
  }, 10_000)

  it('does not retry a misconfiguration, and reports it with its fix', async () => {
    const reported: unknown[] = []
    let attempts = 0
    const gate = createPortcullis({
      store: withWatch(async () => {
        attempts++
        throw new TypeError('watch() needs a subscriber connection: pass options.subscriber')
      }),
      sessionSecret: randomBytes(32),
      onError: (error) => reported.push(error),
    })
    await new Promise((resolve) => setTimeout(resolve, 1200))
    await gate.close()
    expect(attempts).toBe(1)
    expect(reported).toHaveLength(1)
    expect(codeOf(reported[0])).toBe('PORTCULLIS_NO_CHANGE_FEED')
    expect((reported[0] as Error).message).toMatch(/pass options.subscriber/)
    expect((reported[0] as Error).cause).toBeInstanceOf(TypeError)
  })
})
