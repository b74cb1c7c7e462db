import { MysqlAdapter, PostgresAdapter, type QueryExecutorProvider, SqliteAdapter } from 'kysely'

/** The SQL databases `SqlStore` supports. MariaDB is `'mysql'`. */
export type SqlDialectName = 'postgres' | 'mysql' | 'sqlite'

/**
 * The part of a `Kysely` instance that portcullis uses: running SQL, and pinning one pooled
 * connection for a transaction or a lock. Any `Kysely<YourDatabase>` fits; portcullis never
 * opens connections of its own through it beyond what your pool hands out.
 *
 * @example
 * ```ts
 * const db: SqlDatabase = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) })
 * ```
 */
export interface SqlDatabase extends QueryExecutorProvider {
  connection(): {
    execute<T>(callback: (connection: QueryExecutorProvider) => Promise<T>): Promise<T>
  }
  /** The same instance without plugins (a `CamelCasePlugin` would rename the columns read). */
  withoutPlugins?(): SqlDatabase
}

/** The instance portcullis runs its SQL on: yours, minus plugins, on the same pool. */
export function withoutPlugins(db: SqlDatabase): SqlDatabase {
  return typeof db.withoutPlugins === 'function' ? db.withoutPlugins() : db
}

const DIALECTS: readonly SqlDialectName[] = ['postgres', 'mysql', 'sqlite']

/**
 * The dialect to speak: the one given, else the one of the Kysely instance's adapter
 * (PostgreSQL, MySQL and SQLite adapters and their subclasses, e.g. third-party dialects that
 * reuse them). Throws a `TypeError` naming the `dialect` option when it cannot tell.
 */
export function resolveDialect(
  db: SqlDatabase,
  explicit: SqlDialectName | undefined,
  caller: string,
): SqlDialectName {
  if (explicit !== undefined) {
    if (!DIALECTS.includes(explicit)) {
      throw new TypeError(`${caller}: dialect must be one of ${DIALECTS.join(', ')}`)
    }
    return explicit
  }
  if (typeof db !== 'object' || db === null || typeof db.getExecutor !== 'function') {
    throw new TypeError(`${caller}: expected a Kysely instance`)
  }
  const adapter: unknown = db.getExecutor().adapter
  if (adapter instanceof PostgresAdapter) return 'postgres'
  if (adapter instanceof MysqlAdapter) return 'mysql'
  if (adapter instanceof SqliteAdapter) return 'sqlite'
  // Another copy of kysely (a duplicated peer dependency) fails `instanceof`; its class names
  // and those of its subclasses still tell.
  for (let proto = Object.getPrototypeOf(adapter); proto !== null; ) {
    const name = String((proto as { constructor?: { name?: unknown } }).constructor?.name)
    if (/postgres/i.test(name)) return 'postgres'
    if (/mysql|mariadb/i.test(name)) return 'mysql'
    if (/sqlite/i.test(name)) return 'sqlite'
    proto = Object.getPrototypeOf(proto)
  }
  throw new TypeError(
    `${caller}: cannot tell the SQL dialect of this Kysely instance; pass dialect: 'postgres' | 'mysql' | 'sqlite'`,
  )
}

/** How each dialect spells the few things that differ between them. */
export interface DialectTraits {
  /** Opens a write transaction. SQLite takes the write lock up front (no upgrade deadlocks). */
  readonly begin: string
  /** `UPDATE … RETURNING` exists (PostgreSQL, SQLite 3.35+); MySQL and MariaDB lack it. */
  readonly updateReturning: boolean
  /** Scalar maximum and minimum of two values. */
  readonly greatest: string
  readonly least: string
  /**
   * Index hint after the table name of an UPDATE that finds its row by primary key. MariaDB
   * may otherwise scan the `expires_at` index for a touch's `expires_at > now` and lock that
   * index before the row, the reverse of a touch that went by the primary key: concurrent
   * touches of one session then deadlock.
   */
  readonly byPrimaryKey: string
}

export const DIALECT_TRAITS: Readonly<Record<SqlDialectName, DialectTraits>> = {
  postgres: {
    begin: 'begin',
    updateReturning: true,
    greatest: 'greatest',
    least: 'least',
    byPrimaryKey: '',
  },
  mysql: {
    begin: 'start transaction',
    updateReturning: false,
    greatest: 'greatest',
    least: 'least',
    byPrimaryKey: ' force index (primary)',
  },
  sqlite: {
    begin: 'begin immediate',
    updateReturning: true,
    greatest: 'max',
    least: 'min',
    byPrimaryKey: '',
  },
}
