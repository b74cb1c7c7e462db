import { type QueryExecutorProvider, sql } from 'kysely'
import { resolveDialect, type SqlDatabase, type SqlDialectName, withoutPlugins } from './dialect.js'
import { type PlannedMigration, type PlannedStatement, planMigrations } from './migrations.js'
import { migrationsTableStatement } from './render-ddl.js'
import { integer, type SqlRow, text } from './rows.js'
import { checkTablePrefix, tableNames } from './schema.js'
import { isDuplicateColumn } from './sql-errors.js'
import { inTransaction } from './transaction.js'

/** Options of {@link migrate}. */
export interface MigrateOptions {
  /** The database behind the Kysely instance. Default: detected from its dialect adapter. */
  dialect?: SqlDialectName
  /** Prefix of every table name; give the same one to `SqlStore`. Default `portcullis_`. */
  tablePrefix?: string
  /** How long to wait for another instance that is migrating. Default 60 s. */
  lockTimeoutMs?: number
}

/** What {@link migrate} did. */
export interface MigrateResult {
  /** Migrations applied by this call, in order; empty when the schema was up to date. */
  readonly applied: readonly string[]
}

/**
 * Creates or upgrades the portcullis tables. Idempotent: applied migrations are recorded in the
 * `<prefix>migrations` table and skipped. Safe to run from every app instance at start-up:
 * instances that start together take turns (PostgreSQL advisory lock, MySQL `GET_LOCK`,
 * SQLite `BEGIN IMMEDIATE`), and the later ones find nothing left to do.
 *
 * @example
 * ```ts
 * import { Kysely, SqliteDialect } from 'kysely'
 * import Database from 'better-sqlite3'
 * import { migrate, SqlStore } from 'portcullis/adapters/sql'
 *
 * const db = new Kysely({ dialect: new SqliteDialect({ database: new Database('portcullis.db') }) })
 * const { applied } = await migrate(db) // every migration the first time ('001_init', …), [] afterwards
 * const store = new SqlStore(db)
 * ```
 */
export async function migrate(
  database: SqlDatabase,
  options: MigrateOptions = {},
): Promise<MigrateResult> {
  const dialect = resolveDialect(database, options.dialect, 'migrate')
  const db = withoutPlugins(database)
  const prefix = checkTablePrefix(options.tablePrefix, 'migrate')
  const lockTimeoutMs = options.lockTimeoutMs ?? 60_000
  if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 0) {
    throw new TypeError(
      'migrate: lockTimeoutMs must be a non-negative whole number of milliseconds',
    )
  }
  const plan: Plan = {
    dialect,
    table: tableNames(prefix).migrations,
    migrations: planMigrations(dialect, prefix),
    lockKey: fnv1a(`portcullis:${prefix}`),
    lockTimeoutMs,
  }
  const applied =
    dialect === 'postgres'
      ? await migratePostgres(db, plan)
      : dialect === 'mysql'
        ? await migrateMysql(db, plan)
        : await migrateSqlite(db, plan)
  return { applied }
}

/** FNV-1a, 32 bits: a stable number for a lock name (not a security measure). */
function fnv1a(value: string): number {
  let hash = 0x811c9dc5
  for (const byte of Buffer.from(value, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193)
  return hash >>> 0
}

interface Plan {
  readonly dialect: SqlDialectName
  readonly table: string
  readonly migrations: readonly PlannedMigration[]
  /** 32-bit number naming this installation's lock (one per table prefix). */
  readonly lockKey: number
  readonly lockTimeoutMs: number
}

/** Applies what is missing; the caller holds the lock (and, where DDL allows, a transaction). */
async function applyPending(connection: QueryExecutorProvider, plan: Plan): Promise<string[]> {
  await sql.raw(migrationsTableStatement(plan.dialect, plan.table)).execute(connection)
  const { rows } = await sql<SqlRow>`select name from ${sql.table(plan.table)}`.execute(connection)
  const done = new Set(rows.map((row) => text(row, 'name')))
  const applied: string[] = []
  for (const migration of plan.migrations) {
    if (done.has(migration.name)) continue
    for (const statement of migration.statements) {
      await runStatement(connection, plan.dialect, statement)
    }
    await sql`insert into ${sql.table(plan.table)} (name, applied_at) values (${migration.name}, ${Date.now()})`.execute(
      connection,
    )
    applied.push(migration.name)
  }
  return applied
}

/**
 * Runs one statement of a migration, so that a step is safe to run again. PostgreSQL says
 * ADD COLUMN IF NOT EXISTS; MySQL cannot (MariaDB could, but one spelling serves both) and
 * neither can SQLite. A MySQL run that stopped after an ALTER TABLE (MySQL DDL commits at
 * once) and before recording its migration leaves the columns behind, and so does a step
 * applied from the shipped file: the next run's ALTER fails with "Duplicate column name".
 * Finding every column it adds there, the statement counts as done. A MySQL ALTER TABLE adds
 * all its columns or none, so "only some there" is someone else's doing: that still fails.
 * (SQLite runs the whole step in the transaction that records it; the check serves a step
 * applied by hand there.)
 */
async function runStatement(
  connection: QueryExecutorProvider,
  dialect: SqlDialectName,
  statement: PlannedStatement,
): Promise<void> {
  try {
    await sql.raw(statement.sql).execute(connection)
  } catch (error) {
    const adds = statement.addsColumns
    if (dialect === 'postgres' || adds === undefined || !isDuplicateColumn(error)) throw error
    if (!(await columnsExist(connection, dialect, adds.table, adds.columns))) throw error
  }
}

/** Whether `table` has every one of `columns` (MySQL: in the current database). */
async function columnsExist(
  connection: QueryExecutorProvider,
  dialect: 'mysql' | 'sqlite',
  table: string,
  columns: readonly string[],
): Promise<boolean> {
  const query =
    dialect === 'mysql'
      ? sql<SqlRow>`select column_name as name from information_schema.columns
          where table_schema = database() and table_name = ${table}`
      : sql<SqlRow>`select name from pragma_table_info(${table})`
  const { rows } = await query.execute(connection)
  const present = new Set(rows.map((row) => text(row, 'name').toLowerCase()))
  return columns.every((name) => present.has(name.toLowerCase()))
}

/** PostgreSQL: DDL is transactional, so all of it runs in one transaction under an advisory lock. */
function migratePostgres(db: SqlDatabase, plan: Plan): Promise<string[]> {
  return inTransaction(db, 'postgres', async (trx) => {
    // lock_timeout bounds the wait for the advisory lock; both end with the transaction.
    await sql`select set_config('lock_timeout', ${`${plan.lockTimeoutMs}ms`}, true)`.execute(trx)
    // Two-key form: the first key marks the lock as portcullis's, the second names the prefix.
    await sql`select pg_advisory_xact_lock(${0x70637573}, ${plan.lockKey | 0})`.execute(trx)
    return applyPending(trx, plan)
  })
}

/**
 * MySQL/MariaDB: DDL commits implicitly, so there is no enclosing transaction; a named lock
 * held by this connection serializes instances, and every statement is safe to run again in
 * case an earlier run stopped halfway (see `runStatement`).
 */
function migrateMysql(db: SqlDatabase, plan: Plan): Promise<string[]> {
  const name = `portcullis_migrate_${plan.lockKey.toString(16)}`
  return db.connection().execute(async (connection) => {
    const seconds = Math.ceil(plan.lockTimeoutMs / 1000)
    const { rows } = await sql<SqlRow>`select get_lock(${name}, ${seconds}) as locked`.execute(
      connection,
    )
    const locked = rows[0]?.locked
    if (locked === null || locked === undefined || integer(rows[0] as SqlRow, 'locked') !== 1) {
      throw new Error(`migrate: another instance held the migration lock for ${seconds} s`)
    }
    try {
      return await applyPending(connection, plan)
    } finally {
      await sql`select release_lock(${name})`.execute(connection)
    }
  })
}

/** Serializes migrations of one SQLite file within this process (see below). */
const sqliteQueues = new Map<string, Promise<unknown>>()

/**
 * SQLite: `BEGIN IMMEDIATE` takes the database's write lock, which serializes processes, and
 * DDL is transactional. Two handles on one file inside one process are queued here first:
 * better-sqlite3 waits for a lock synchronously, blocking the very event loop the lock holder
 * needs to finish.
 */
async function migrateSqlite(db: SqlDatabase, plan: Plan): Promise<string[]> {
  const { rows } =
    await sql<SqlRow>`select file from pragma_database_list where name = 'main'`.execute(db)
  const file = rows[0] === undefined ? '' : text(rows[0], 'file')
  // inTransaction opens SQLite transactions with BEGIN IMMEDIATE.
  const run = () => inTransaction(db, 'sqlite', (trx) => applyPending(trx, plan))
  // An in-memory database (file '') belongs to one handle: nothing to queue.
  if (file === '') return run()
  const previous = sqliteQueues.get(file) ?? Promise.resolve()
  const current = previous.catch(() => {}).then(run)
  sqliteQueues.set(file, current)
  try {
    return await current
  } finally {
    if (sqliteQueues.get(file) === current) sqliteQueues.delete(file)
  }
}
