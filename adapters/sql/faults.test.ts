/**
 * The database fails under a running app: the store answers with the typed unavailable error
 * within a bounded time (the gate turns it into 503), and serves again once the database is
 * back, on the same Kysely instance, without a restart.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Kysely, MysqlDialect, SqliteDialect, sql } from 'kysely'
import { createPool } from 'mysql2'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  type AuthenticateRequest,
  createPortcullis,
  isStoreUnavailableError,
  type StoreChange,
} from '../../src/index.js'
import { makeKey, makeSession, randomProjectId } from '../../src/testing/index.js'
import { serviceAvailable, serviceUrls } from '../../test/support/services.js'
import { migrate } from './migrate.js'
import { SqlStore } from './sql-store.js'
import {
  createMysqlDatabase,
  createPostgresDatabase,
  createSqliteDatabase,
  type TestDatabase,
} from './test-support/databases.js'

const bearer = (credential: string): AuthenticateRequest => ({
  headers: { authorization: `Bearer ${credential}` },
  remoteAddress: '203.0.113.7',
})

/** Resolves once `check` resolves true (polled every 25 ms); fails after `withinMs`. */
async function eventually(check: () => Promise<boolean>, withinMs: number, what: string) {
  const deadline = Date.now() + withinMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${withinMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

async function timed<T>(work: () => Promise<T>): Promise<{ result: T; ms: number }> {
  const started = performance.now()
  const result = await work()
  return { result, ms: performance.now() - started }
}

describe('SqlStore faults (SQLite)', () => {
  it('a file locked by another connection: writes fail typed after the busy timeout, reads go on, then it recovers', async () => {
    const database = createSqliteDatabase()
    try {
      await migrate(database.connect().db, { tablePrefix: database.prefix })
      const app = database.connect({ busyTimeoutMs: 200 })
      const store = new SqlStore(app.db, { tablePrefix: database.prefix, sweepIntervalMs: 0 })
      const gate = createPortcullis({ store, sessionSecret: randomBytes(32) })
      const { test } = await gate.projects.provision(randomProjectId())
      const server = await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })
      if (!server.ok) throw new Error('setup failed')
      const { token } = await gate.sessions.create(server.auth, { clientId: 'user_1' })

      const locker = new Database(database.file as string)
      locker.exec('BEGIN EXCLUSIVE')
      try {
        // A session request writes (touch): it gets 503, not 401, within the busy timeout.
        const refused = await timed(() =>
          gate.authenticate(bearer(token), { credential: 'session' }),
        )
        expect(refused.result.ok).toBe(false)
        if (refused.result.ok) return
        expect(refused.result.error.code).toBe('store_unavailable')
        expect(refused.result.error.status).toBe(503)
        expect(refused.ms).toBeLessThan(1500)
        const insert = await store.insertKey(makeKey(Date.now())).catch((error: unknown) => error)
        expect(isStoreUnavailableError(insert)).toBe(true)
        expect((insert as Error).message).toMatch(/did not answer in time/)
        // WAL readers are not blocked by a writer: secret-key requests keep working.
        expect(
          (await gate.authenticate(bearer(test.secretKey.key), { credential: 'secret' })).ok,
        ).toBe(true)
      } finally {
        locker.exec('ROLLBACK')
        locker.close()
      }
      expect((await gate.authenticate(bearer(token), { credential: 'session' })).ok).toBe(true)
      await gate.close()
      await store.close()
    } finally {
      await database.drop()
    }
  })

  it('a file that can only be opened read-only: reads work, writes fail typed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portcullis-ro-'))
    const file = join(dir, 'portcullis.db')
    try {
      const writable = new Kysely<unknown>({
        dialect: new SqliteDialect({ database: new Database(file) }),
      })
      await migrate(writable)
      const key = makeKey(Date.now())
      const setup = new SqlStore(writable, { sweepIntervalMs: 0 })
      await setup.insertKey(key)
      await setup.close()
      await writable.destroy()

      chmodSync(file, 0o444)
      // Root ignores file modes; opening read-only is what SQLite does for a read-only file.
      const readonly = process.getuid?.() === 0
      const db = new Kysely<unknown>({
        dialect: new SqliteDialect({ database: new Database(file, { readonly }) }),
      })
      const store = new SqlStore(db, { sweepIntervalMs: 0 })
      expect(await store.findKeyByHash(key.hash)).toEqual(key)
      const error = await store
        .revokeSession('cs_x', Date.now())
        .then(() => store.insertKey(makeKey(Date.now())))
        .catch((caught: unknown) => caught)
      expect(isStoreUnavailableError(error)).toBe(true)
      expect((error as Error).message).toMatch(/read-only/)
      await store.close()
      await db.destroy()
    } finally {
      chmodSync(file, 0o644)
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

const postgres = await serviceAvailable('postgres')

describe.skipIf(!postgres)('SqlStore faults (PostgreSQL, pg_terminate_backend)', () => {
  let database: TestDatabase
  let admin: pg.Client

  /** Terminates this run's backends whose application_name matches (and that `where` selects). */
  const terminate = async (applicationName: string, where = 'true') => {
    const { rows } = await admin.query(
      `select pg_terminate_backend(pid) as done from pg_stat_activity
        where application_name = $1 and pid <> pg_backend_pid() and ${where}`,
      [applicationName],
    )
    return rows.length
  }

  beforeAll(async () => {
    database = createPostgresDatabase()
    await migrate(database.connect().db, { tablePrefix: database.prefix })
    admin = new pg.Client({ connectionString: serviceUrls.postgres })
    admin.on('error', () => {})
    await admin.connect()
  })
  afterAll(async () => {
    await admin?.end()
    await database?.drop()
  })

  it('a query in flight on a killed connection fails typed; the next one succeeds on the same Kysely', async () => {
    const app = database.connect()
    const store = new SqlStore(app.db, { tablePrefix: database.prefix, sweepIntervalMs: 0 })
    const session = makeSession(Date.now())
    await store.insertSession(session)
    await admin.query('begin')
    try {
      // Hold the row, so the store's touch waits on it: that is the connection we kill.
      await admin.query(`select id from ${store.tables.sessions} where id = $1 for update`, [
        session.id,
      ])
      const touching = store.touchSession(session.id, Date.now()).catch((error: unknown) => error)
      await eventually(
        async () => (await terminate(database.prefix, `wait_event_type = 'Lock'`)) > 0,
        3000,
        'the waiting backend to be terminated',
      )
      const error = await touching
      expect(isStoreUnavailableError(error)).toBe(true)
      expect((error as Error).message).toMatch(/unreachable|connection/)
      expect(((error as Error).cause as { code?: string }).code).toBe('57P01')
    } finally {
      await admin.query('rollback')
    }
    // The pool may hand out that connection once more before it notices the socket closed:
    // that call fails typed too, and the one after it gets a fresh connection.
    const failures: unknown[] = []
    await eventually(
      async () => {
        try {
          return (await store.touchSession(session.id, Date.now()))?.id === session.id
        } catch (error) {
          failures.push(error)
          return false
        }
      },
      3000,
      'recovery',
    )
    expect(failures.length).toBeLessThanOrEqual(1)
    expect(failures.every(isStoreUnavailableError)).toBe(true)
    await store.close()
  })

  it('every pooled connection killed: requests answer 503 or succeed, and succeed again within seconds', async () => {
    const app = database.connect()
    const store = new SqlStore(app.db, { tablePrefix: database.prefix, sweepIntervalMs: 0 })
    const gate = createPortcullis({ store, sessionSecret: randomBytes(32) })
    const { live } = await gate.projects.provision(randomProjectId())
    // Fill the pool with connections, then kill them all.
    await Promise.all(Array.from({ length: 8 }, () => store.getKey('key_warm')))
    expect(await terminate(database.prefix)).toBeGreaterThan(0)
    const codes: string[] = []
    await eventually(
      async () => {
        const result = await gate.authenticate(bearer(live.secretKey.key), { credential: 'secret' })
        if (!result.ok) codes.push(result.error.code)
        return result.ok
      },
      3000,
      'recovery',
    )
    expect(codes.every((code) => code === 'store_unavailable')).toBe(true)
    await gate.close()
    await store.close()
  })

  it('a killed LISTEN connection: changes still arrive, and LISTEN is re-established', async () => {
    const writerConnection = database.connect()
    const readerConnection = database.connect()
    const errors: unknown[] = []
    const writer = new SqlStore(writerConnection.db, {
      tablePrefix: database.prefix,
      sweepIntervalMs: 0,
    })
    const reader = new SqlStore(readerConnection.db, {
      tablePrefix: database.prefix,
      sweepIntervalMs: 0,
      listen: readerConnection.listen as NonNullable<typeof readerConnection.listen>,
      onError: (error) => errors.push(error),
    })
    const seen: StoreChange[] = []
    const unwatch = await reader.watch((change) => seen.push(change))
    const listenName = `${database.prefix}listen`
    expect(await terminate(listenName)).toBe(1)
    const revoke = async () => {
      const session = makeSession(Date.now())
      await writer.insertSession(session)
      await writer.revokeSession(session.id, Date.now())
      return session.id
    }
    const heard = (id: string) => async () =>
      seen.some((change) => change.type === 'session' && change.sessionId === id)
    await eventually(heard(await revoke()), 3000, 'a change after the kill')
    await eventually(
      async () =>
        (
          await admin.query('select 1 from pg_stat_activity where application_name = $1', [
            listenName,
          ])
        ).rows.length === 1,
      5000,
      'a new LISTEN connection',
    )
    await eventually(heard(await revoke()), 2000, 'a change after reconnecting')
    expect(errors.length).toBeGreaterThan(0)
    await unwatch()
    await reader.close()
    await writer.close()
  })
})

const mysql = await serviceAvailable('mysql')

describe.skipIf(!mysql)('SqlStore faults (MariaDB/MySQL, KILL)', () => {
  let database: TestDatabase
  beforeAll(async () => {
    database = createMysqlDatabase()
    await migrate(database.connect().db, { tablePrefix: database.prefix })
  })
  afterAll(async () => {
    await database?.drop()
  })

  it('a killed connection: the pool replaces it and requests succeed again', async () => {
    const pool = createPool({ uri: serviceUrls.mysql, connectionLimit: 1, connectTimeout: 2000 })
    const db = new Kysely<unknown>({ dialect: new MysqlDialect({ pool }) })
    const store = new SqlStore(db, { tablePrefix: database.prefix, sweepIntervalMs: 0 })
    const key = makeKey(Date.now())
    await store.insertKey(key)
    const { rows } = await sql<{ id: number }>`select connection_id() as id`.execute(db)
    const admin = database.connect()
    await sql.raw(`kill connection ${Number(rows[0]?.id)}`).execute(admin.db)
    const failures: unknown[] = []
    await eventually(
      async () => {
        try {
          return (await store.findKeyByHash(key.hash))?.id === key.id
        } catch (error) {
          failures.push(error)
          return false
        }
      },
      3000,
      'recovery',
    )
    expect(failures.every(isStoreUnavailableError)).toBe(true)
    await store.close()
    await db.destroy()
  })
})
