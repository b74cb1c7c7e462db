import { type QueryExecutorProvider, type RawBuilder, sql } from 'kysely'
import type { ClientScope, StoredSession } from '../../src/index.js'
import { DIALECT_TRAITS, type DialectTraits, type SqlDialectName } from './dialect.js'
import { type SqlRow, sessionFromRow } from './rows.js'
import { affectedRows, insertUnique } from './write-outcome.js'

/**
 * The SQL of the sessions table, in the store's dialect. Every write is a single conditional
 * statement, so a touch (the hot path) never waits on a transaction; a revocation runs in the
 * store's transaction, together with its announcement.
 */
export class SessionStatements {
  /** The quoted table reference. */
  readonly #sessions: RawBuilder<unknown>
  readonly #traits: DialectTraits

  constructor(table: string, dialect: SqlDialectName) {
    this.#sessions = sql.table(table)
    this.#traits = DIALECT_TRAITS[dialect]
  }

  /** Inserts `session`; a duplicate id throws `ConflictError`. */
  async insert(db: QueryExecutorProvider, session: StoredSession): Promise<void> {
    const insert = sql`insert into ${this.#sessions} (id, project_id, mode, client_id,
        created_at, idle_timeout_ms, expires_at, max_expires_at, revoked_at)
      values (${session.id}, ${session.projectId}, ${session.mode}, ${session.clientId},
        ${session.createdAt}, ${session.idleTimeoutMs}, ${session.expiresAt},
        ${session.maxExpiresAt}, ${session.revokedAt})`
    await insertUnique(db, insert, 'session')
  }

  async select(db: QueryExecutorProvider, id: string): Promise<StoredSession | null> {
    const { rows } = await sql<SqlRow>`select * from ${this.#sessions} where id = ${id}`.execute(db)
    return rows[0] === undefined ? null : sessionFromRow(rows[0])
  }

  /**
   * Slides the session's expiry to `now` plus its idle timeout, within its cap, if it is live;
   * returns the session as it stands afterwards, or null if there is none. One conditional
   * UPDATE: the database evaluates the condition and the new expiry atomically, so a revoke, a
   * delete or a later touch can never be undone by this one.
   */
  async touch(db: QueryExecutorProvider, id: string, now: number): Promise<StoredSession | null> {
    const { greatest, least, updateReturning, byPrimaryKey } = this.#traits
    const touch = sql`update ${this.#sessions}${sql.raw(byPrimaryKey)}
      set expires_at = ${sql.raw(greatest)}(expires_at, ${sql.raw(least)}(${now} + idle_timeout_ms, max_expires_at))
      where id = ${id} and revoked_at is null and expires_at > ${now}`
    if (updateReturning) {
      const { rows } = await sql<SqlRow>`${touch} returning *`.execute(db)
      if (rows[0] !== undefined) return sessionFromRow(rows[0])
    } else {
      await touch.execute(db)
    }
    // Not touched (revoked, expired, missing), or MySQL: report the session as it stands.
    return this.select(db, id)
  }

  /** Revokes the session at `now` unless it already was; true if this call revoked it. */
  async revoke(db: QueryExecutorProvider, id: string, now: number): Promise<boolean> {
    const revoked = await sql`update ${this.#sessions} set revoked_at = ${now}
      where id = ${id} and revoked_at is null`.execute(db)
    // NULL → a value always changes the row, so the count is right on MySQL too.
    return affectedRows(revoked) > 0
  }

  /** Revokes every unrevoked session of a client at `now`; returns how many. */
  async revokeClient(db: QueryExecutorProvider, scope: ClientScope, now: number): Promise<number> {
    const { projectId, mode, clientId } = scope
    return affectedRows(
      await sql`update ${this.#sessions} set revoked_at = ${now}
        where project_id = ${projectId} and mode = ${mode} and client_id = ${clientId}
          and revoked_at is null`.execute(db),
    )
  }

  /** Every session of a client, oldest first. */
  async listClient(db: QueryExecutorProvider, scope: ClientScope): Promise<StoredSession[]> {
    const { rows } = await sql<SqlRow>`select * from ${this.#sessions}
      where project_id = ${scope.projectId} and mode = ${scope.mode} and client_id = ${scope.clientId}
      order by created_at, id`.execute(db)
    return rows.map(sessionFromRow)
  }
}
