import { type QueryExecutorProvider, type RawBuilder, sql } from 'kysely'
import { optionalMilliseconds } from '../../src/core/option-checks.js'
import type {
  ClientScope,
  KeyRoll,
  KeyRollResult,
  KeyUsage,
  PortcullisStore,
  PruneCutoff,
  StoreChange,
  StoredKey,
  StoredSession,
  Unwatch,
} from '../../src/index.js'
import { recordChange } from './changes.js'
import {
  DIALECT_TRAITS,
  resolveDialect,
  type SqlDatabase,
  type SqlDialectName,
  withoutPlugins,
} from './dialect.js'
import { pruneChanges, pruneExpired, runEvery } from './prune.js'
import { allowedIpsColumn, keyFromRow, type SqlRow, sessionFromRow, text } from './rows.js'
import { checkTablePrefix, notifyChannel, type TableNames, tableNames } from './schema.js'
import { duplicateError, isUniqueViolation, toStoreError } from './sql-errors.js'
import { inTransaction, retryConflicts } from './transaction.js'
import { WatchHub } from './watch-hub.js'
import { createPollingWatcher } from './watch-poll.js'
import { type PgListenConnection, PostgresListenWatcher } from './watch-postgres.js'
import { ChangeTableReader } from './watch-table.js'

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

const KEY_COLUMNS = sql.raw(
  'id, project_id, type, mode, name, hash, prefix, last4, allowed_ips, client_id, created_at, expires_at, last_used_at, rolled_to_id, rolled_from_id, sealed_secret',
)
const SESSION_COLUMNS = sql.raw(
  'id, project_id, mode, client_id, created_at, idle_timeout_ms, expires_at, max_expires_at, revoked_at',
)

const affected = (result: { numAffectedRows?: bigint }): number =>
  Number(result.numAffectedRows ?? 0n)

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
  /** Quoted table references for the SQL below. */
  readonly #keys: RawBuilder<unknown>
  readonly #sessions: RawBuilder<unknown>
  readonly #clock: () => number
  readonly #keyRetentionMs: number
  readonly #changeRetentionMs: number
  readonly #onError: (error: unknown) => void
  readonly #hub: WatchHub
  #stopSweeping: (() => void) | null = null

  constructor(db: SqlDatabase, options: SqlStoreOptions = {}) {
    this.dialect = resolveDialect(db, options.dialect, 'SqlStore')
    const prefix = checkTablePrefix(options.tablePrefix, 'SqlStore')
    this.tables = tableNames(prefix)
    this.#keys = sql.table(this.tables.keys)
    this.#sessions = sql.table(this.tables.sessions)
    this.#db = withoutPlugins(db)
    this.#clock = options.clock ?? Date.now
    this.#keyRetentionMs = optionalMilliseconds(
      options.expiredKeyRetentionMs,
      30 * DAY_MS,
      'SqlStore: expiredKeyRetentionMs',
    )
    this.#changeRetentionMs = optionalMilliseconds(
      options.changeRetentionMs,
      60 * MINUTE_MS,
      'SqlStore: changeRetentionMs',
    )
    this.#onError = options.onError ?? (() => {})
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
    if (listen !== undefined && (typeof listen !== 'function' || this.dialect !== 'postgres')) {
      throw new TypeError('SqlStore: listen is a function, and only for PostgreSQL')
    }
    this.#hub = new WatchHub((sink) => {
      const feed = new ChangeTableReader(this.#db, this.tables.changes, sink)
      return listen === undefined
        ? createPollingWatcher(feed, sink, pollIntervalMs)
        : new PostgresListenWatcher(feed, sink, listen, notifyChannel(prefix), pollIntervalMs)
    }, this.#onError)
    if (sweepIntervalMs > 0) {
      this.#stopSweeping = runEvery(sweepIntervalMs, () => this.sweep(), this.#onError)
    }
  }

  insertKey(key: StoredKey): Promise<void> {
    return this.#run('insertKey', (db) => this.#insertKey(db, key))
  }

  findKeyByHash(hash: string): Promise<StoredKey | null> {
    return this.#run('findKeyByHash', async (db) => {
      const { rows } = await sql<SqlRow>`select * from ${this.#keys} where hash = ${hash}`.execute(
        db,
      )
      return rows[0] === undefined ? null : keyFromRow(rows[0])
    })
  }

  getKey(id: string): Promise<StoredKey | null> {
    return this.#run('getKey', (db) => this.#selectKey(db, id))
  }

  listKeys(projectId: string): Promise<StoredKey[]> {
    return this.#run('listKeys', async (db) => {
      const { rows } = await sql<SqlRow>`select * from ${this.#keys}
        where project_id = ${projectId} order by seq`.execute(db)
      return rows.map(keyFromRow)
    })
  }

  setKeyAllowedIps(id: string, allowedIps: readonly string[]): Promise<StoredKey | null> {
    return this.#run('setKeyAllowedIps', (db) =>
      inTransaction(db, this.dialect, async (trx) => {
        // Then read back: MySQL counts only changed rows by default, so an unchanged list
        // would look like a missing key if the row count decided.
        await sql`update ${this.#keys} set allowed_ips = ${allowedIpsColumn(allowedIps)}
          where id = ${id}`.execute(trx)
        const key = await this.#selectKey(trx, id)
        if (key !== null) await this.#announce(trx, { type: 'key', keyId: key.id, hash: key.hash })
        return key
      }),
    )
  }

  rollKey(roll: KeyRoll): Promise<KeyRollResult> {
    const { id, replacement, oldExpiresAt } = roll
    return this.#run('rollKey', (db) =>
      inTransaction(db, this.dialect, async (trx): Promise<KeyRollResult> => {
        // The condition `rolled_to_id is null` is checked under the row lock the UPDATE takes:
        // of concurrent rolls exactly one matches, the others find the key already rolled.
        const retire = sql`update ${this.#keys}
          set rolled_to_id = ${replacement.id},
            expires_at = case when expires_at is null or expires_at > ${oldExpiresAt}
              then ${oldExpiresAt} else expires_at end
          where id = ${id} and rolled_to_id is null`
        let previous: StoredKey | null
        if (DIALECT_TRAITS[this.dialect].updateReturning) {
          const { rows } = await sql<SqlRow>`${retire} returning *`.execute(trx)
          previous = rows[0] === undefined ? null : keyFromRow(rows[0])
        } else {
          previous = affected(await retire.execute(trx)) > 0 ? await this.#selectKey(trx, id) : null
        }
        if (previous === null) {
          const { rows } = await sql`select id from ${this.#keys} where id = ${id}`.execute(trx)
          return rows.length > 0 ? { outcome: 'already_rolled' } : { outcome: 'not_found' }
        }
        // Inherited fields come from the row the UPDATE locked, not from the caller's copy.
        const stored: StoredKey = {
          ...replacement,
          name: previous.name,
          allowedIps: previous.allowedIps,
        }
        // A duplicate replacement throws ConflictError and the whole roll is rolled back.
        await this.#insertKey(trx, stored)
        await this.#announce(trx, { type: 'key', keyId: previous.id, hash: previous.hash })
        return { outcome: 'rolled', previous, replacement: stored }
      }),
    )
  }

  deleteKey(id: string): Promise<boolean> {
    return this.#run('deleteKey', (db) =>
      inTransaction(db, this.dialect, async (trx) => {
        const { rows } = await sql<SqlRow>`select hash from ${this.#keys} where id = ${id}`.execute(
          trx,
        )
        if (rows[0] === undefined) return false
        // A concurrent delete may have won since the read: then it announces, not this one.
        if (affected(await sql`delete from ${this.#keys} where id = ${id}`.execute(trx)) === 0)
          return false
        await this.#announce(trx, { type: 'key', keyId: id, hash: text(rows[0], 'hash') })
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
        for (const [id, lastUsedAt] of latest) {
          await sql`update ${this.#keys} set last_used_at = ${lastUsedAt}
            where id = ${id} and (last_used_at is null or last_used_at < ${lastUsedAt})`.execute(
            trx,
          )
        }
      }),
    )
  }

  insertSession(session: StoredSession): Promise<void> {
    return this.#run('insertSession', async (db) => {
      try {
        await sql`insert into ${this.#sessions} (${SESSION_COLUMNS}) values (
          ${session.id}, ${session.projectId}, ${session.mode}, ${session.clientId},
          ${session.createdAt}, ${session.idleTimeoutMs}, ${session.expiresAt},
          ${session.maxExpiresAt}, ${session.revokedAt})`.execute(db)
      } catch (error) {
        throw isUniqueViolation(error) ? duplicateError('session') : error
      }
    })
  }

  getSession(id: string): Promise<StoredSession | null> {
    return this.#run('getSession', (db) => this.#selectSession(db, id))
  }

  touchSession(id: string, now: number): Promise<StoredSession | null> {
    const { greatest, least, updateReturning, byPrimaryKey } = DIALECT_TRAITS[this.dialect]
    // One conditional UPDATE: the database evaluates the condition and the new expiry
    // atomically, so a revoke, a delete or a later touch can never be undone by this one.
    const touch = sql`update ${this.#sessions}${sql.raw(byPrimaryKey)}
      set expires_at = ${sql.raw(greatest)}(expires_at, ${sql.raw(least)}(${now} + idle_timeout_ms, max_expires_at))
      where id = ${id} and revoked_at is null and expires_at > ${now}`
    return this.#run('touchSession', (db) =>
      // Safe to rerun after a deadlock (say with a sweep): a touch only ever raises the expiry.
      retryConflicts(async () => {
        if (updateReturning) {
          const { rows } = await sql<SqlRow>`${touch} returning *`.execute(db)
          if (rows[0] !== undefined) return sessionFromRow(rows[0])
        } else {
          await touch.execute(db)
        }
        // Not touched (revoked, expired, missing), or MySQL: report the session as it stands.
        return this.#selectSession(db, id)
      }),
    )
  }

  revokeSession(id: string, now: number): Promise<StoredSession | null> {
    return this.#run('revokeSession', (db) =>
      inTransaction(db, this.dialect, async (trx) => {
        const revoked = await sql`update ${this.#sessions} set revoked_at = ${now}
          where id = ${id} and revoked_at is null`.execute(trx)
        // NULL → a value always changes the row, so the count is right on MySQL too.
        if (affected(revoked) > 0) await this.#announce(trx, { type: 'session', sessionId: id })
        return this.#selectSession(trx, id)
      }),
    )
  }

  revokeClientSessions(scope: ClientScope, now: number): Promise<number> {
    const { projectId, mode, clientId } = scope
    return this.#run('revokeClientSessions', (db) =>
      inTransaction(db, this.dialect, async (trx) => {
        const count = affected(
          await sql`update ${this.#sessions} set revoked_at = ${now}
            where project_id = ${projectId} and mode = ${mode} and client_id = ${clientId}
              and revoked_at is null`.execute(trx),
        )
        if (count > 0) await this.#announce(trx, { type: 'client', projectId, mode, clientId })
        return count
      }),
    )
  }

  listClientSessions(scope: ClientScope): Promise<StoredSession[]> {
    return this.#run('listClientSessions', async (db) => {
      const { rows } = await sql<SqlRow>`select * from ${this.#sessions}
        where project_id = ${scope.projectId} and mode = ${scope.mode} and client_id = ${scope.clientId}
        order by created_at, id`.execute(db)
      return rows.map(sessionFromRow)
    })
  }

  /**
   * Calls `listener` for every key rolled, deleted or re-allowlisted and every session or
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

  async #insertKey(db: QueryExecutorProvider, key: StoredKey): Promise<void> {
    try {
      await sql`insert into ${this.#keys} (${KEY_COLUMNS}) values (
        ${key.id}, ${key.projectId}, ${key.type}, ${key.mode}, ${key.name}, ${key.hash},
        ${key.prefix}, ${key.last4}, ${allowedIpsColumn(key.allowedIps)}, ${key.clientId},
        ${key.createdAt}, ${key.expiresAt}, ${key.lastUsedAt}, ${key.rolledToId},
        ${key.rolledFromId}, ${key.sealedSecret})`.execute(db)
    } catch (error) {
      throw isUniqueViolation(error) ? duplicateError('key') : error
    }
  }

  async #selectKey(db: QueryExecutorProvider, id: string): Promise<StoredKey | null> {
    const { rows } = await sql<SqlRow>`select * from ${this.#keys} where id = ${id}`.execute(db)
    return rows[0] === undefined ? null : keyFromRow(rows[0])
  }

  async #selectSession(db: QueryExecutorProvider, id: string): Promise<StoredSession | null> {
    const { rows } = await sql<SqlRow>`select * from ${this.#sessions} where id = ${id}`.execute(db)
    return rows[0] === undefined ? null : sessionFromRow(rows[0])
  }

  #announce(trx: QueryExecutorProvider, change: StoreChange): Promise<void> {
    return recordChange(trx, this.dialect, this.tables.changes, change, this.#clock())
  }
}
