import type { QueryExecutorProvider } from 'kysely'
import {
  type ClientScope,
  INHERITED_KEY_FIELDS,
  type KeyChanges,
  type KeyRoll,
  type KeyRollResult,
  type KeyUsage,
  type PortcullisStore,
  type PruneCutoff,
  type StoreChange,
  type StoredKey,
  type StoredSession,
  type Unwatch,
} from '../../src/index.js'
import { recordChange } from './changes.js'
import type { SqlDatabase, SqlDialectName } from './dialect.js'
import { KeyStatements } from './key-statements.js'
import { pruneChanges, pruneExpired, runEvery } from './prune.js'
import { notifyChannel, type TableNames, tableNames } from './schema.js'
import { SessionStatements } from './session-statements.js'
import { toStoreError } from './sql-errors.js'
import { resolveSqlStoreOptions, type SqlStoreOptions } from './sql-store-options.js'
import { inTransaction, retryConflicts } from './transaction.js'
import { WatchHub } from './watch-hub.js'
import { createPollingWatcher } from './watch-poll.js'
import { PostgresListenWatcher } from './watch-postgres.js'
import { ChangeTableReader } from './watch-table.js'

export { DEFAULT_POLL_INTERVAL_MS, type SqlStoreOptions } from './sql-store-options.js'

/**
 * The SQL store: keys and sessions in PostgreSQL, MySQL/MariaDB or SQLite, through the Kysely
 * instance you already have. It opens no connection of its own (PostgreSQL LISTEN uses the one
 * `listen` gives it). Every conditional write is a single conditional statement or one
 * transaction, so instances sharing the database never see a half-done roll, never revive a
 * revoked session and never extend one past its cap. Run {@link migrate} once before use.
 *
 * Revocations reach other instances' caches through `watch()`: on PostgreSQL with `listen`,
 * by NOTIFY as the write commits; otherwise (MySQL, SQLite, PostgreSQL without `listen`) by
 * polling the changes table, within `pollIntervalMs` (default 250 ms) plus one query.
 *
 * @example
 * ```ts
 * import { Kysely, PostgresDialect } from 'kysely'
 * import pg from 'pg'
 * import { createPortcullis } from 'portcullis'
 * import { migrate, SqlStore } from 'portcullis/adapters/sql'
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, connectionTimeoutMillis: 2000 })
 * // A connection that dies emits 'error'; without listeners that would crash the process.
 * pool.on('error', (error) => console.warn(error))
 * pool.on('connect', (client) => client.on('error', (error) => console.warn(error)))
 * const db = new Kysely({ dialect: new PostgresDialect({ pool }) })
 * await migrate(db)
 * const store = new SqlStore(db, { listen: () => pool.connect() })
 * const gate = createPortcullis({ store, sessionSecret: process.env.CST_SECRET! })
 * ```
 */
export class SqlStore implements PortcullisStore {
  /** The dialect in use, given or detected. */
  readonly dialect: SqlDialectName
  /** The tables this store reads and writes. */
  readonly tables: TableNames
  readonly #db: SqlDatabase
  readonly #keys: KeyStatements
  readonly #sessions: SessionStatements
  readonly #clock: () => number
  readonly #keyRetentionMs: number
  readonly #changeRetentionMs: number
  readonly #hub: WatchHub
  #stopSweeping: (() => void) | null = null

  constructor(db: SqlDatabase, options: SqlStoreOptions = {}) {
    const resolved = resolveSqlStoreOptions(db, options)
    const { dialect, tablePrefix, listen, pollIntervalMs, onError } = resolved
    this.dialect = dialect
    this.tables = tableNames(tablePrefix)
    this.#keys = new KeyStatements(this.tables.keys, dialect)
    this.#sessions = new SessionStatements(this.tables.sessions, dialect)
    this.#db = resolved.db
    this.#clock = resolved.clock
    this.#keyRetentionMs = resolved.expiredKeyRetentionMs
    this.#changeRetentionMs = resolved.changeRetentionMs
    this.#hub = new WatchHub((sink) => {
      const feed = new ChangeTableReader(this.#db, this.tables.changes, sink)
      return listen === undefined
        ? createPollingWatcher(feed, sink, pollIntervalMs)
        : new PostgresListenWatcher(feed, sink, listen, notifyChannel(tablePrefix), pollIntervalMs)
    }, onError)
    if (resolved.sweepIntervalMs > 0) {
      this.#stopSweeping = runEvery(resolved.sweepIntervalMs, () => this.sweep(), onError)
    }
  }

  insertKey(key: StoredKey): Promise<void> {
    return this.#run('insertKey', (db) => this.#keys.insert(db, key))
  }

  findKeyByHash(hash: string): Promise<StoredKey | null> {
    return this.#run('findKeyByHash', (db) => this.#keys.selectByHash(db, hash))
  }

  getKey(id: string): Promise<StoredKey | null> {
    return this.#run('getKey', (db) => this.#keys.select(db, id))
  }

  listKeys(projectId: string): Promise<StoredKey[]> {
    return this.#run('listKeys', (db) => this.#keys.listByProject(db, projectId))
  }

  updateKey(id: string, changes: KeyChanges): Promise<StoredKey | null> {
    return this.#run('updateKey', (db) =>
      inTransaction(db, this.dialect, async (trx) => {
        // Then read back: MySQL counts only changed rows by default, so an unchanged value
        // would look like a missing key if the row count decided.
        await this.#keys.update(trx, id, changes)
        const key = await this.#keys.select(trx, id)
        if (key !== null) await this.#announce(trx, { type: 'key', keyId: key.id, hash: key.hash })
        return key
      }),
    )
  }

  rollKey(roll: KeyRoll): Promise<KeyRollResult> {
    return this.#run('rollKey', (db) =>
      inTransaction(db, this.dialect, async (trx): Promise<KeyRollResult> => {
        // Of concurrent rolls exactly one retires the key; the others find it already rolled.
        const previous = await this.#keys.retire(trx, roll)
        if (previous === null) {
          return (await this.#keys.exists(trx, roll.id))
            ? { outcome: 'already_rolled' }
            : { outcome: 'not_found' }
        }
        // Inherited fields come from the row the UPDATE locked, not from the caller's copy.
        const inherited = Object.fromEntries(
          INHERITED_KEY_FIELDS.map((field) => [field, previous[field]]),
        ) as Pick<StoredKey, (typeof INHERITED_KEY_FIELDS)[number]>
        const stored: StoredKey = { ...roll.replacement, ...inherited }
        // A duplicate replacement throws ConflictError and the whole roll is rolled back.
        await this.#keys.insert(trx, stored)
        await this.#announce(trx, { type: 'key', keyId: previous.id, hash: previous.hash })
        return { outcome: 'rolled', previous, replacement: stored }
      }),
    )
  }

  deleteKey(id: string): Promise<boolean> {
    return this.#run('deleteKey', (db) =>
      inTransaction(db, this.dialect, async (trx) => {
        const hash = await this.#keys.selectHash(trx, id)
        if (hash === null) return false
        // A concurrent delete may have won since the read: then it announces, not this one.
        if (!(await this.#keys.delete(trx, id))) return false
        await this.#announce(trx, { type: 'key', keyId: id, hash })
        return true
      }),
    )
  }

  recordKeyUsage(usage: readonly KeyUsage[]): Promise<void> {
    const latest = new Map<string, number>()
    for (const { id, lastUsedAt } of usage)
      latest.set(id, Math.max(lastUsedAt, latest.get(id) ?? lastUsedAt))
    if (latest.size === 0) return Promise.resolve()
    return this.#run('recordKeyUsage', (db) =>
      // One transaction for the batch: one commit (one fsync) instead of one per key.
      inTransaction(db, this.dialect, async (trx) => {
        for (const [id, lastUsedAt] of latest) await this.#keys.raiseLastUsed(trx, id, lastUsedAt)
      }),
    )
  }

  insertSession(session: StoredSession): Promise<void> {
    return this.#run('insertSession', (db) => this.#sessions.insert(db, session))
  }

  getSession(id: string): Promise<StoredSession | null> {
    return this.#run('getSession', (db) => this.#sessions.select(db, id))
  }

  touchSession(id: string, now: number): Promise<StoredSession | null> {
    return this.#run('touchSession', (db) =>
      // Safe to rerun after a deadlock (say with a sweep): a touch only ever raises the expiry.
      retryConflicts(() => this.#sessions.touch(db, id, now)),
    )
  }

  revokeSession(id: string, now: number): Promise<StoredSession | null> {
    return this.#run('revokeSession', (db) =>
      inTransaction(db, this.dialect, async (trx) => {
        if (await this.#sessions.revoke(trx, id, now)) {
          await this.#announce(trx, { type: 'session', sessionId: id })
        }
        return this.#sessions.select(trx, id)
      }),
    )
  }

  revokeClientSessions(scope: ClientScope, now: number): Promise<number> {
    const { projectId, mode, clientId } = scope
    return this.#run('revokeClientSessions', (db) =>
      inTransaction(db, this.dialect, async (trx) => {
        const count = await this.#sessions.revokeClient(trx, scope, now)
        if (count > 0) await this.#announce(trx, { type: 'client', projectId, mode, clientId })
        return count
      }),
    )
  }

  listClientSessions(scope: ClientScope): Promise<StoredSession[]> {
    return this.#run('listClientSessions', (db) => this.#sessions.listClient(db, scope))
  }

  /**
   * Calls `listener` for every key rolled, deleted or updated and every session or
   * client revoked through any SqlStore on this database (this one included). PostgreSQL with
   * `listen`: as soon as the write commits. Otherwise: within `pollIntervalMs` (default
   * 250 ms) plus one query.
   * Resolves once listening; rejects with `StoreUnavailableError` if the database cannot be
   * reached then. Later failures go to `onError` while watching carries on.
   */
  watch(listener: (change: StoreChange) => void): Promise<Unwatch> {
    return this.#run('watch', () => this.#hub.subscribe(listener))
  }

  /** Deletes sessions and keys whose `expiresAt` is at or before the cutoffs (in batches). */
  prune(cutoff: PruneCutoff): Promise<number> {
    return this.#run('prune', (db) => pruneExpired(db, this.dialect, this.tables, cutoff))
  }

  /**
   * One round of housekeeping, as the background sweep does it: expired sessions, keys
   * expired for longer than `expiredKeyRetentionMs`, and change records older than
   * `changeRetentionMs`. Returns how many sessions and keys went. Call it yourself (from a
   * cron job, say) with `sweepIntervalMs: 0`.
   */
  sweep(): Promise<number> {
    const now = this.#clock()
    return this.#run('sweep', async (db) => {
      const removed = await pruneExpired(db, this.dialect, this.tables, {
        sessionsExpiredBefore: now,
        keysExpiredBefore: now - this.#keyRetentionMs,
      })
      await pruneChanges(db, this.dialect, this.tables.changes, now - this.#changeRetentionMs)
      return removed
    })
  }

  /** Stops the background sweep and every watcher. Does not close your Kysely instance. */
  async close(): Promise<void> {
    this.#stopSweeping?.()
    this.#stopSweeping = null
    await this.#hub.close()
  }

  async #run<T>(operation: string, body: (db: SqlDatabase) => Promise<T>): Promise<T> {
    try {
      return await body(this.#db)
    } catch (error) {
      throw toStoreError(error, operation)
    }
  }

  #announce(trx: QueryExecutorProvider, change: StoreChange): Promise<void> {
    return recordChange(trx, this.dialect, this.tables.changes, change, this.#clock())
  }
}
