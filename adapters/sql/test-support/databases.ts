/**
 * Test databases for the SQL store: one per dialect, each under a table prefix no other run
 * uses, with helpers to open further instances on it (other "app instances"), to dump it, and
 * to drop everything the run created.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { Kysely, MysqlDialect, PostgresDialect, SqliteDialect, sql } from 'kysely'
import { createPool } from 'mysql2'
import pg from 'pg'
import { serviceAvailable, serviceUrls } from '../../../test/support/services.js'
import type { SqlDialectName } from '../dialect.js'
import { tableNames } from '../schema.js'
import type { PgListenConnection } from '../watch-postgres.js'

export type TestKysely = Kysely<unknown>

/** One app instance's connection to the test database. */
export interface TestConnection {
  readonly db: TestKysely
  /** PostgreSQL only: opens a dedicated LISTEN connection. */
  readonly listen?: () => Promise<PgListenConnection>
  /** PostgreSQL only: the pool behind `db`. */
  readonly pool?: pg.Pool
  close(): Promise<void>
}

export interface TestDatabase {
  readonly dialect: SqlDialectName
  /** Unique to this run; every table this run creates starts with it. */
  readonly prefix: string
  /** Opens another instance's connection to the same database. */
  connect(options?: { busyTimeoutMs?: number }): TestConnection
  /** Every row of every table under the prefix, as text. */
  dump(): Promise<string>
  /** Drops the tables and closes what was opened. */
  drop(): Promise<void>
  /** SQLite only: the database file. */
  readonly file?: string
}

export function uniquePrefix(): string {
  return `pt${randomBytes(5).toString('hex')}_`
}

function decodeBuffers(_key: string, value: unknown): unknown {
  if (
    typeof value === 'object' &&
    value !== null &&
    (value as { type?: unknown }).type === 'Buffer'
  ) {
    return Buffer.from((value as { data: number[] }).data).toString('utf8')
  }
  return typeof value === 'bigint' ? value.toString() : value
}

function createTestDatabase(
  dialect: SqlDialectName,
  prefix: string,
  open: (options: { busyTimeoutMs?: number }) => TestConnection,
  extra: { file?: string; cleanup?: () => void } = {},
): TestDatabase {
  const opened: TestConnection[] = []
  const admin = open({})
  const tables = tableNames(prefix)
  return {
    dialect,
    prefix,
    ...(extra.file === undefined ? {} : { file: extra.file }),
    connect(options = {}) {
      const connection = open(options)
      opened.push(connection)
      return connection
    },
    async dump() {
      const parts: string[] = []
      for (const table of Object.values(tables)) {
        const { rows } = await sql`select * from ${sql.table(table)}`.execute(admin.db)
        parts.push(`${table}: ${JSON.stringify(rows, decodeBuffers)}`)
      }
      return parts.join('\n')
    },
    async drop() {
      for (const connection of opened.splice(0)) await connection.close().catch(() => {})
      for (const table of Object.values(tables)) {
        await sql`drop table if exists ${sql.table(table)}`.execute(admin.db)
      }
      await admin.close()
      extra.cleanup?.()
    },
  }
}

/** A SQLite file in a fresh temporary directory (WAL mode, as the README recommends). */
export function createSqliteDatabase(): TestDatabase {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-sql-'))
  const file = join(dir, 'portcullis.db')
  return createTestDatabase(
    'sqlite',
    uniquePrefix(),
    ({ busyTimeoutMs = 5000 }) => {
      const handle = new Database(file, { timeout: busyTimeoutMs })
      handle.pragma('journal_mode = WAL')
      const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: handle }) })
      return { db, close: () => db.destroy() }
    },
    { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) },
  )
}

/**
 * A pg.Pool as an application should configure it: bounded connect and statement time.
 * `connectionTimeoutMillis` also bounds the wait for a free connection of the ten, which the
 * conformance races (a thousand parallel calls) need longer on a busy machine.
 */
export function createPgPool(
  url: string,
  applicationName: string,
  connectionTimeoutMillis = 2000,
): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: 10,
    connectionTimeoutMillis,
    statement_timeout: 5000,
    application_name: applicationName,
  })
  // A connection that dies emits 'error': on the pool while idle, on the client while checked
  // out (Kysely holds it for a query). Unheard, either crashes the process (README: faults).
  pool.on('error', () => {})
  pool.on('connect', (client) => client.on('error', () => {}))
  return pool
}

export function createPostgresDatabase(url: string = serviceUrls.postgres): TestDatabase {
  const prefix = uniquePrefix()
  return createTestDatabase('postgres', prefix, () => {
    // The races queue a thousand calls for ten connections: what they test is outcomes, not
    // how long the queue takes (their gate's storeTimeoutMs is 10 s too).
    const pool = createPgPool(url, prefix, 10_000)
    const db = new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) })
    const listen = async () => {
      const client = new pg.Client({ connectionString: url, application_name: `${prefix}listen` })
      client.on('error', () => {})
      await client.connect()
      return client
    }
    return { db, pool, listen, close: () => db.destroy() }
  })
}

export function createMysqlDatabase(url: string = serviceUrls.mysql): TestDatabase {
  return createTestDatabase('mysql', uniquePrefix(), () => {
    const pool = createPool({ uri: url, connectionLimit: 10, connectTimeout: 2000 })
    const db = new Kysely<unknown>({ dialect: new MysqlDialect({ pool }) })
    return { db, close: () => db.destroy() }
  })
}

export function createDatabase(dialect: SqlDialectName): TestDatabase {
  if (dialect === 'postgres') return createPostgresDatabase()
  if (dialect === 'mysql') return createMysqlDatabase()
  return createSqliteDatabase()
}

/** A Kysely instance whose database cannot be reached: a closed port, a missing directory. */
export function createUnreachableKysely(dialect: SqlDialectName): TestKysely {
  if (dialect === 'postgres') {
    const pool = new pg.Pool({
      connectionString: 'postgres://postgres@127.0.0.1:1/test',
      connectionTimeoutMillis: 1000,
    })
    pool.on('error', () => {})
    return new Kysely<unknown>({ dialect: new PostgresDialect({ pool }) })
  }
  if (dialect === 'mysql') {
    const pool = createPool({ uri: 'mysql://root@127.0.0.1:1/test', connectTimeout: 1000 })
    return new Kysely<unknown>({ dialect: new MysqlDialect({ pool }) })
  }
  const missing = join(tmpdir(), `portcullis-missing-${randomBytes(6).toString('hex')}`, 'x.db')
  return new Kysely<unknown>({
    dialect: new SqliteDialect({
      database: async () => new Database(missing, { fileMustExist: true }),
    }),
  })
}

/**
 * The dialects to test, SQLite always, the servers when they answer (see
 * test/support/services.ts: with PORTCULLIS_REQUIRE_SERVICES=1 a missing server fails instead).
 */
export async function dialectsUnderTest(): Promise<
  { dialect: SqlDialectName; available: boolean }[]
> {
  return [
    { dialect: 'sqlite', available: true },
    { dialect: 'postgres', available: await serviceAvailable('postgres') },
    { dialect: 'mysql', available: await serviceAvailable('mysql') },
  ]
}
