import { CamelCasePlugin, CompiledQuery, sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isStoreUnavailableError, type StoreChange } from '../../src/index.js'
import { createManualClock, makeKey, makeSession } from '../../src/testing/index.js'
import type { SqlDatabase } from './dialect.js'
import { migrate } from './migrate.js'
import { SqlStore, type SqlStoreOptions } from './sql-store.js'
import {
  createDatabase,
  createUnreachableKysely,
  dialectsUnderTest,
  type TestConnection,
  type TestDatabase,
  uniquePrefix,
} from './test-support/databases.js'

const HOUR_MS = 60 * 60 * 1000
const DAY_MS = 24 * HOUR_MS

/** Resolves when `predicate` holds, checking every 20 ms; fails after `withinMs`. */
async function eventually(predicate: () => boolean, withinMs: number, what: string): Promise<void> {
  const deadline = Date.now() + withinMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${withinMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

for (const { dialect, available } of await dialectsUnderTest()) {
  describe.skipIf(!available)(`SqlStore edge cases (${dialect})`, () => {
    let database: TestDatabase
    let connection: TestConnection
    const clock = createManualClock()
    const stores: SqlStore[] = []
    const open = (options: SqlStoreOptions = {}) => {
      const store = new SqlStore(connection.db, {
        tablePrefix: database.prefix,
        clock: clock.now,
        sweepIntervalMs: 0,
        pollIntervalMs: 50,
        ...options,
      })
      stores.push(store)
      return store
    }

    beforeAll(async () => {
      database = createDatabase(dialect)
      connection = database.connect()
      await migrate(connection.db, { tablePrefix: database.prefix })
    })
    afterAll(async () => {
      for (const store of stores) await store.close()
      await database?.drop()
    })

    it('compares hashes, ids and client ids exactly: no case folding, no trailing-space padding', async () => {
      const store = open()
      const key = makeKey(clock.now())
      await store.insertKey(key)
      expect(await store.findKeyByHash(`${key.hash} `)).toBeNull()
      expect(await store.getKey(`${key.id} `)).toBeNull()
      expect(await store.getKey(key.id.toUpperCase())).toBeNull()
      const bob = makeSession(clock.now(), { clientId: 'bob' })
      const padded = makeSession(clock.now(), { projectId: bob.projectId, clientId: 'bob ' })
      const upper = makeSession(clock.now(), { projectId: bob.projectId, clientId: 'BOB' })
      for (const session of [bob, padded, upper]) await store.insertSession(session)
      expect((await store.listClientSessions(bob)).map((session) => session.id)).toEqual([bob.id])
      expect(await store.revokeClientSessions(padded, clock.now())).toBe(1)
      expect((await store.getSession(bob.id))?.revokedAt).toBeNull()
      expect((await store.getSession(upper.id))?.revokedAt).toBeNull()
    })

    it('keeps non-ASCII client ids and names intact', async () => {
      const store = open()
      const clientId = 'ユーザー🙂'.repeat(20)
      const session = makeSession(clock.now(), { clientId })
      await store.insertSession(session)
      expect((await store.listClientSessions(session))[0]?.clientId).toBe(clientId)
      const key = makeKey(clock.now(), { name: 'Clé de production ✓' })
      await store.insertKey(key)
      expect((await store.getKey(key.id))?.name).toBe('Clé de production ✓')
    })

    it('answers for a write that changes nothing (MySQL counts changed rows, not matched ones)', async () => {
      const store = open()
      const key = makeKey(clock.now(), { allowedIps: ['10.0.0.0/8'] })
      await store.insertKey(key)
      expect((await store.updateKey(key.id, { allowedIps: ['10.0.0.0/8'] }))?.id).toBe(key.id)
      expect((await store.updateKey(key.id, { name: key.name, metadata: null }))?.id).toBe(key.id)
      expect((await store.updateKey(key.id, { clientRestrictions: null }))?.id).toBe(key.id)
      expect(await store.updateKey(key.id, {})).toEqual(key)
      const session = makeSession(clock.now())
      await store.insertSession(session)
      const first = await store.touchSession(session.id, clock.now() + 1000)
      const again = await store.touchSession(session.id, clock.now() + 1000)
      expect(again).toEqual(first)
    })

    it('refuses a client_restrictions column it cannot read: StoreUnavailableError, never "unrestricted"', async () => {
      const store = open()
      const key = makeKey(clock.now(), {
        type: 'publishable',
        prefix: 'pk_test',
        clientRestrictions: { kind: 'ios', bundleIds: ['com.example.app'] },
      })
      await store.insertKey(key)
      const keys = sql.table(`${database.prefix}keys`)
      const { rows } = await sql<{ value: unknown }>`select client_restrictions as value
        from ${keys} where id = ${key.id}`.execute(connection.db)
      expect(String(rows[0]?.value)).toBe('{"kind":"ios","bundleIds":["com.example.app"]}')
      for (const value of [
        '{"kind":"referrers","referrers":["https://app.example.com"]}',
        '{"kind":"origins","origins":[42]}',
        '{"kind":"android","apps":[{"packageName":"com.example.shop"}]}',
        'null',
        'not json',
      ]) {
        await sql`update ${keys} set client_restrictions = ${value} where id = ${key.id}`.execute(
          connection.db,
        )
        for (const read of [() => store.getKey(key.id), () => store.findKeyByHash(key.hash)]) {
          const error = await read().catch((caught: unknown) => caught)
          expect(isStoreUnavailableError(error), value).toBe(true)
          expect((error as Error).message).toMatch(/client_restrictions/)
        }
      }
      await sql`update ${keys} set client_restrictions = ${null} where id = ${key.id}`.execute(
        connection.db,
      )
      expect(await store.getKey(key.id)).toEqual({ ...key, clientRestrictions: null })
    })

    it('round-trips timestamps beyond 2^32 seconds and up to the last Date', async () => {
      const store = open()
      const far = 8_640_000_000_000_000
      const key = makeKey(clock.now(), { expiresAt: far, lastUsedAt: far - 1 })
      await store.insertKey(key)
      expect(await store.getKey(key.id)).toEqual(key)
    })

    it('keeps the highest lastUsedAt when a batch names a key twice', async () => {
      const store = open()
      const key = makeKey(clock.now())
      await store.insertKey(key)
      await store.recordKeyUsage([
        { id: key.id, lastUsedAt: clock.now() + 50 },
        { id: key.id, lastUsedAt: clock.now() + 90 },
        { id: key.id, lastUsedAt: clock.now() + 70 },
      ])
      expect((await store.getKey(key.id))?.lastUsedAt).toBe(clock.now() + 90)
    })

    it('rolls nothing back when the replacement conflicts: the old key stays unrolled', async () => {
      const store = open()
      const taken = makeKey(clock.now())
      const old = makeKey(clock.now())
      await store.insertKey(taken)
      await store.insertKey(old)
      await expect(
        store.rollKey({
          id: old.id,
          replacement: makeKey(clock.now(), { hash: taken.hash }),
          oldExpiresAt: clock.now(),
        }),
      ).rejects.toMatchObject({ code: 'conflict' })
      expect(await store.getKey(old.id)).toEqual(old)
    })

    it('sweep removes expired sessions, keys past their retention and old change records', async () => {
      const store = open({ expiredKeyRetentionMs: DAY_MS, changeRetentionMs: HOUR_MS })
      const session = makeSession(clock.now(), { idleTimeoutMs: HOUR_MS })
      const key = makeKey(clock.now(), { expiresAt: clock.now() + HOUR_MS })
      await store.insertSession(session)
      await store.insertKey(key)
      await store.revokeSession(session.id, clock.now())
      const changes = sql.table(store.tables.changes)
      const count = async () => {
        const { rows } = await sql<{ n: unknown }>`select count(*) as n from ${changes}`.execute(
          connection.db,
        )
        return Number(rows[0]?.n)
      }
      const before = await count()
      clock.advance(2 * HOUR_MS)
      expect(await store.sweep()).toBeGreaterThanOrEqual(1)
      expect(await store.getSession(session.id)).toBeNull()
      expect(await store.getKey(key.id)).not.toBeNull()
      // The newest change record is always kept (an empty table may reuse numbers on MySQL).
      expect(await count()).toBe(1)
      expect(before).toBeGreaterThanOrEqual(1)
      clock.advance(DAY_MS)
      expect(await store.sweep()).toBeGreaterThanOrEqual(1)
      expect(await store.findKeyByHash(key.hash)).toBeNull()
    })

    it('fans one watcher out to several listeners and stops each on unwatch', async () => {
      const store = open()
      const first: StoreChange[] = []
      const second: StoreChange[] = []
      const stopFirst = await store.watch((change) => first.push(change))
      const stopSecond = await store.watch((change) => second.push(change))
      const session = makeSession(clock.now())
      await store.insertSession(session)
      await store.revokeSession(session.id, clock.now())
      const heard = (list: StoreChange[], id: string) => () =>
        list.some((change) => change.type === 'session' && change.sessionId === id)
      await eventually(heard(first, session.id), 2000, 'first listener')
      await eventually(heard(second, session.id), 2000, 'second listener')
      await stopFirst()
      await stopFirst()
      const later = makeSession(clock.now())
      await store.insertSession(later)
      await store.revokeSession(later.id, clock.now())
      await eventually(heard(second, later.id), 2000, 'remaining listener')
      expect(heard(first, later.id)()).toBe(false)
      await stopSecond()
    })

    it('ignores the plugins of the Kysely instance it is given (CamelCasePlugin)', async () => {
      const store = new SqlStore(connection.db.withPlugin(new CamelCasePlugin()), {
        tablePrefix: database.prefix,
        sweepIntervalMs: 0,
      })
      stores.push(store)
      const key = makeKey(clock.now(), { allowedIps: ['10.0.0.0/8'] })
      await store.insertKey(key)
      expect(await store.findKeyByHash(key.hash)).toEqual(key)
      expect(
        await migrate(connection.db.withPlugin(new CamelCasePlugin()), {
          tablePrefix: database.prefix,
        }),
      ).toEqual({ applied: [] })
    })

    it('fails with a typed error that names migrate() when the tables are missing', async () => {
      const store = new SqlStore(connection.db, { tablePrefix: uniquePrefix(), sweepIntervalMs: 0 })
      const error = await store.getKey('key_x').catch((caught: unknown) => caught)
      expect(isStoreUnavailableError(error)).toBe(true)
      expect((error as Error).message).toMatch(/migrate/)
      expect((error as Error).cause).toBeInstanceOf(Error)
    })

    /** The test database as a store sees it, with every query shown to `intercept` first (which may throw instead). */
    const intercepted = (
      intercept: (query: CompiledQuery) => void,
      db: TestConnection['db'] = connection.db,
    ): SqlDatabase => ({
      getExecutor() {
        const executor = db.getExecutor()
        return new Proxy(executor, {
          get(target, property) {
            if (property === 'executeQuery') {
              return (query: CompiledQuery) => {
                intercept(query)
                return target.executeQuery(query)
              }
            }
            const value: unknown = Reflect.get(target, property, target)
            return typeof value === 'function' ? value.bind(target) : value
          },
        })
      },
      connection: () => db.connection(),
    })
    const isTouch = (query: CompiledQuery) => /^update\s+\S+_sessions\b/i.test(query.sql.trim())

    if (dialect !== 'sqlite') {
      it('reruns a touch the database picked as a deadlock victim, a bounded number of times', async () => {
        const deadlock = () =>
          dialect === 'postgres'
            ? Object.assign(new Error('deadlock detected'), { code: '40P01' })
            : Object.assign(new Error('Deadlock found when trying to get lock'), {
                code: 'ER_LOCK_DEADLOCK',
                errno: 1213,
              })
        let deadlocks = 0
        let attempts = 0
        const store = new SqlStore(
          intercepted((query) => {
            if (!isTouch(query)) return
            attempts++
            if (deadlocks > 0) {
              deadlocks--
              throw deadlock()
            }
          }),
          { dialect, tablePrefix: database.prefix, sweepIntervalMs: 0 },
        )
        stores.push(store)
        const session = makeSession(clock.now())
        await store.insertSession(session)
        deadlocks = 1
        const touched = await store.touchSession(session.id, clock.now() + HOUR_MS)
        expect(attempts).toBe(2)
        expect(touched?.expiresAt).toBe(clock.now() + HOUR_MS + session.idleTimeoutMs)
        deadlocks = Number.POSITIVE_INFINITY
        attempts = 0
        const error = await store
          .touchSession(session.id, clock.now() + 2 * HOUR_MS)
          .catch((caught: unknown) => caught)
        expect(isStoreUnavailableError(error)).toBe(true)
        expect(attempts).toBe(3)
      })
    }

    if (dialect === 'mysql') {
      it('touches by primary key even where the expiry index is more selective (no lock-order deadlock)', async () => {
        // A table of its own, so that other tests' rows do not sway the optimizer.
        const own = createDatabase(dialect)
        try {
          const ownConnection = own.connect()
          await migrate(ownConnection.db, { tablePrefix: own.prefix })
          let touch: CompiledQuery | undefined
          const store = new SqlStore(
            intercepted((query) => {
              if (isTouch(query)) touch = query
            }, ownConnection.db),
            { dialect, tablePrefix: own.prefix, sweepIntervalMs: 0 },
          )
          // The other session expires sooner, so `expires_at > now` matches one row alone.
          await store.insertSession(makeSession(clock.now(), { idleTimeoutMs: HOUR_MS }))
          const session = makeSession(clock.now())
          await store.insertSession(session)
          // The statement a touch sends, taken from a touch that changes nothing (a row it
          // changed would update the index statistics the plan depends on).
          const missing = 'cs_missing'
          await store.touchSession(missing, clock.now() + 2 * HOUR_MS)
          await store.close()
          expect(touch).toBeDefined()
          const parameters = (touch?.parameters ?? []).map((value) =>
            value === missing ? session.id : value,
          )
          expect(parameters).toContain(session.id)
          const plan = await ownConnection.db.executeQuery<{ key: string | null }>(
            CompiledQuery.raw(`explain ${touch?.sql}`, parameters),
          )
          expect(plan.rows.map((row) => row.key)).toEqual(['PRIMARY'])
        } finally {
          await own.drop()
        }
      })
    }

    if (dialect === 'postgres') {
      it('without a LISTEN connection, polls PostgreSQL like the other databases', async () => {
        const writer = open()
        const reader = open()
        const seen: StoreChange[] = []
        const unwatch = await reader.watch((change) => seen.push(change))
        const session = makeSession(clock.now())
        await writer.insertSession(session)
        await writer.revokeSession(session.id, clock.now())
        await eventually(() => seen.length > 0, 2000, 'a polled change')
        expect(seen[0]).toEqual({ type: 'session', sessionId: session.id })
        await unwatch()
      })
    }
  })
}

describe('SqlStore options and background work', () => {
  it('refuses nonsensical options with a TypeError', () => {
    const db = createUnreachableKysely('sqlite')
    expect(() => new SqlStore(db, { tablePrefix: 'Bad Prefix' })).toThrow(TypeError)
    expect(() => new SqlStore(db, { pollIntervalMs: 1 })).toThrow(TypeError)
    expect(() => new SqlStore(db, { sweepIntervalMs: -1 })).toThrow(TypeError)
    expect(
      () =>
        new SqlStore(db, {
          listen: async () => {
            throw new Error('unused')
          },
        }),
    ).toThrow(/only for PostgreSQL/)
    expect(
      () => new SqlStore(db, { dialect: 'oracle' as unknown as 'sqlite', sweepIntervalMs: 0 }),
    ).toThrow(TypeError)
    expect(() => new SqlStore({} as never)).toThrow(/Kysely/)
  })

  it('detects the dialect from the Kysely instance', async () => {
    for (const dialect of ['sqlite', 'postgres', 'mysql'] as const) {
      const db = createUnreachableKysely(dialect)
      const store = new SqlStore(db, { sweepIntervalMs: 0 })
      expect(store.dialect).toBe(dialect)
      await store.close()
      await db.destroy()
    }
  })

  it('sweeps in the background and reports failures to onError, never throwing', async () => {
    const db = createUnreachableKysely('sqlite')
    const errors: unknown[] = []
    const store = new SqlStore(db, { sweepIntervalMs: 20, onError: (error) => errors.push(error) })
    await eventually(() => errors.length >= 2, 2000, 'two failed sweeps')
    expect(errors.every(isStoreUnavailableError)).toBe(true)
    await store.close()
    const count = errors.length
    await new Promise((resolve) => setTimeout(resolve, 60))
    expect(errors.length).toBe(count)
    await db.destroy()
  })

  it('rejects watch() with the typed error when the database is down', async () => {
    const db = createUnreachableKysely('sqlite')
    const store = new SqlStore(db, { sweepIntervalMs: 0 })
    await expect(store.watch(() => {})).rejects.toSatisfy(isStoreUnavailableError)
    await store.close()
    await db.destroy()
  })
})
