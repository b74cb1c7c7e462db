import { optionalMilliseconds } from '../../src/core/option-checks.js'
import { resolveDialect, type SqlDatabase, type SqlDialectName, withoutPlugins } from './dialect.js'
import { checkTablePrefix } from './schema.js'
import type { SqlStore } from './sql-store.js'
import type { PgListenConnection } from './watch-postgres.js'

const MINUTE_MS = 60 * 1000
const DAY_MS = 24 * 60 * MINUTE_MS
/**
 * Polling keeps a revocation's way to another instance under a second (interval plus one
 * query) at the cost of four indexed reads per second per instance while watching.
 */
export const DEFAULT_POLL_INTERVAL_MS = 250

/**
 * Options of {@link SqlStore}. Read once; the object is never modified.
 *
 * @example
 * ```ts
 * new SqlStore(db, { tablePrefix: 'auth_', pollIntervalMs: 100, onError: (error) => log.warn(error) })
 * ```
 */
export interface SqlStoreOptions {
  /** The database behind the Kysely instance. Default: detected from its dialect adapter. */
  dialect?: SqlDialectName
  /** Prefix of every table name; must match the one given to `migrate`. Default `portcullis_`. */
  tablePrefix?: string
  /** Time source for pruning and change records, epoch ms. Default `Date.now`; pass the gate's clock. */
  clock?: () => number
  /**
   * PostgreSQL only: opens the dedicated connection `watch()` runs LISTEN on, e.g.
   * `() => pool.connect()` or a function returning a connected `pg.Client`. Called when the
   * first watcher subscribes and again after that connection is lost. Changes then reach other
   * instances as their transaction commits (milliseconds). Without it, PostgreSQL is polled
   * like the other databases: Kysely keeps its pool private, so the store cannot take a LISTEN
   * connection by itself.
   */
  listen?: () => Promise<PgListenConnection>
  /**
   * How often `watch()` reads the changes table (MySQL, SQLite, PostgreSQL without `listen`,
   * and PostgreSQL while its LISTEN connection is being re-established). A change reaches
   * other instances within this interval plus one query. Default 250 ms, so that bound stays
   * under a second; each read is one primary-key range query (`seq > last seen`) that usually
   * returns no row. Above about 750 ms the bound exceeds a second; keep it well below the
   * gate's `cache.ttlMs` (30 s with a feed).
   */
  pollIntervalMs?: number
  /** How often {@link SqlStore.sweep} runs in the background. Default 15 minutes; 0 turns it off. */
  sweepIntervalMs?: number
  /**
   * How long an expired or rolled key is kept so that it answers `api_key_expired` rather
   * than `api_key_invalid`. Default 30 days.
   */
  expiredKeyRetentionMs?: number
  /** How long change records are kept for watchers that fell behind. Default 1 hour. */
  changeRetentionMs?: number
  /** Receives failures of background work (sweeps, watch polls, a lost LISTEN connection). */
  onError?: (error: unknown) => void
}

/** What a SqlStore is built from: its database and its options, checked and defaulted. */
export interface ResolvedSqlStoreOptions {
  /** The Kysely instance without plugins, on the same pool. */
  readonly db: SqlDatabase
  readonly dialect: SqlDialectName
  readonly tablePrefix: string
  readonly clock: () => number
  readonly expiredKeyRetentionMs: number
  readonly changeRetentionMs: number
  readonly onError: (error: unknown) => void
  readonly pollIntervalMs: number
  readonly sweepIntervalMs: number
  readonly listen: (() => Promise<PgListenConnection>) | undefined
}

/** Checks the options (throwing `TypeError` for a bad one) and fills in the defaults. */
export function resolveSqlStoreOptions(
  db: SqlDatabase,
  options: SqlStoreOptions,
): ResolvedSqlStoreOptions {
  const dialect = resolveDialect(db, options.dialect, 'SqlStore')
  const tablePrefix = checkTablePrefix(options.tablePrefix, 'SqlStore')
  const plain = withoutPlugins(db)
  const clock = options.clock ?? Date.now
  const expiredKeyRetentionMs = optionalMilliseconds(
    options.expiredKeyRetentionMs,
    30 * DAY_MS,
    'SqlStore: expiredKeyRetentionMs',
  )
  const changeRetentionMs = optionalMilliseconds(
    options.changeRetentionMs,
    60 * MINUTE_MS,
    'SqlStore: changeRetentionMs',
  )
  const onError = options.onError ?? (() => {})
  const pollIntervalMs = optionalMilliseconds(
    options.pollIntervalMs,
    DEFAULT_POLL_INTERVAL_MS,
    'SqlStore: pollIntervalMs',
    10,
  )
  const sweepIntervalMs = optionalMilliseconds(
    options.sweepIntervalMs,
    15 * MINUTE_MS,
    'SqlStore: sweepIntervalMs',
  )
  const { listen } = options
  if (listen !== undefined && (typeof listen !== 'function' || dialect !== 'postgres')) {
    throw new TypeError('SqlStore: listen is a function, and only for PostgreSQL')
  }
  return {
    db: plain,
    dialect,
    tablePrefix,
    clock,
    expiredKeyRetentionMs,
    changeRetentionMs,
    onError,
    pollIntervalMs,
    sweepIntervalMs,
    listen,
  }
}
