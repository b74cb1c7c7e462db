import { type QueryExecutorProvider, type RawBuilder, sql } from 'kysely'
import {
  INHERITED_KEY_FIELDS,
  type KeyChanges,
  type KeyRoll,
  type StoredKey,
} from '../../src/index.js'
import { jsonOrNull } from '../stored-json.js'
import { DIALECT_TRAITS, type SqlDialectName } from './dialect.js'
import { allowedIpsColumn, keyFromRow, type SqlRow, text } from './rows.js'
import { affectedRows, insertUnique } from './write-outcome.js'

/**
 * The column of each field `updateKey` may change, and how its value is written there. Every
 * field of `KeyChanges` must have one (a field added to the contract fails to compile here).
 */
const CHANGE_COLUMNS: {
  readonly [Field in keyof KeyChanges]-?: readonly [
    column: string,
    encode: (value: Exclude<KeyChanges[Field], undefined>) => string | null,
  ]
} = {
  name: ['name', (name) => name],
  allowedIps: ['allowed_ips', allowedIpsColumn],
  permissions: ['permissions', jsonOrNull],
  metadata: ['metadata', jsonOrNull],
  clientRestrictions: ['client_restrictions', jsonOrNull],
}

/**
 * The SQL of the keys table, one statement a method, in the store's dialect. Each runs on the
 * executor it is given: the database, or the transaction the store opened around several
 * (a roll, a delete, an update and its announcement commit together).
 */
export class KeyStatements {
  /** The quoted table reference. */
  readonly #keys: RawBuilder<unknown>
  readonly #updateReturning: boolean

  constructor(table: string, dialect: SqlDialectName) {
    this.#keys = sql.table(table)
    this.#updateReturning = DIALECT_TRAITS[dialect].updateReturning
  }

  /** Inserts `key`; a duplicate id or hash throws `ConflictError`. */
  async insert(db: QueryExecutorProvider, key: StoredKey): Promise<void> {
    const insert = sql`insert into ${this.#keys} (id, project_id, type, mode, name, hash,
        prefix, last4, allowed_ips, permissions, metadata, client_restrictions, client_id,
        created_at, expires_at, last_used_at, rolled_to_id, rolled_from_id, sealed_secret)
      values (${key.id}, ${key.projectId}, ${key.type}, ${key.mode}, ${key.name}, ${key.hash},
        ${key.prefix}, ${key.last4}, ${allowedIpsColumn(key.allowedIps)},
        ${jsonOrNull(key.permissions)}, ${jsonOrNull(key.metadata)},
        ${jsonOrNull(key.clientRestrictions)}, ${key.clientId}, ${key.createdAt},
        ${key.expiresAt}, ${key.lastUsedAt}, ${key.rolledToId}, ${key.rolledFromId},
        ${key.sealedSecret})`
    await insertUnique(db, insert, 'key')
  }

  async select(db: QueryExecutorProvider, id: string): Promise<StoredKey | null> {
    const { rows } = await sql<SqlRow>`select * from ${this.#keys} where id = ${id}`.execute(db)
    return rows[0] === undefined ? null : keyFromRow(rows[0])
  }

  async selectByHash(db: QueryExecutorProvider, hash: string): Promise<StoredKey | null> {
    const { rows } = await sql<SqlRow>`select * from ${this.#keys} where hash = ${hash}`.execute(db)
    return rows[0] === undefined ? null : keyFromRow(rows[0])
  }

  /** The hash of key `id`, or null if there is no such key. */
  async selectHash(db: QueryExecutorProvider, id: string): Promise<string | null> {
    const { rows } = await sql<SqlRow>`select hash from ${this.#keys} where id = ${id}`.execute(db)
    return rows[0] === undefined ? null : text(rows[0], 'hash')
  }

  async exists(db: QueryExecutorProvider, id: string): Promise<boolean> {
    const { rows } = await sql`select id from ${this.#keys} where id = ${id}`.execute(db)
    return rows.length > 0
  }

  /** Every key of a project, in insertion order. */
  async listByProject(db: QueryExecutorProvider, projectId: string): Promise<StoredKey[]> {
    const { rows } = await sql<SqlRow>`select * from ${this.#keys}
      where project_id = ${projectId} order by seq`.execute(db)
    return rows.map(keyFromRow)
  }

  /**
   * Sets the columns of the fields present in `changes` (null → NULL), in one statement; says
   * nothing of whether the key exists (MySQL counts changed rows only). No field, no statement.
   */
  async update(db: QueryExecutorProvider, id: string, changes: KeyChanges): Promise<void> {
    const assignments: RawBuilder<unknown>[] = []
    for (const field of INHERITED_KEY_FIELDS) {
      const value = changes[field]
      if (value === undefined) continue
      const [column, encode] = CHANGE_COLUMNS[field]
      assignments.push(
        sql`${sql.raw(column)} = ${(encode as (value: unknown) => string | null)(value)}`,
      )
    }
    if (assignments.length === 0) return
    await sql`update ${this.#keys} set ${sql.join(assignments)} where id = ${id}`.execute(db)
  }

  /**
   * Marks key `roll.id` as rolled to the replacement and caps its expiry at `roll.oldExpiresAt`;
   * returns it as it stands afterwards, or null when no key was rolled (missing or already
   * rolled). The condition `rolled_to_id is null` is checked under the row lock the UPDATE
   * takes: of concurrent rolls exactly one matches, the others find the key already rolled.
   */
  async retire(db: QueryExecutorProvider, roll: KeyRoll): Promise<StoredKey | null> {
    const { id, replacement, oldExpiresAt } = roll
    const retire = sql`update ${this.#keys}
      set rolled_to_id = ${replacement.id},
        expires_at = case when expires_at is null or expires_at > ${oldExpiresAt}
          then ${oldExpiresAt} else expires_at end
      where id = ${id} and rolled_to_id is null`
    if (this.#updateReturning) {
      const { rows } = await sql<SqlRow>`${retire} returning *`.execute(db)
      return rows[0] === undefined ? null : keyFromRow(rows[0])
    }
    return affectedRows(await retire.execute(db)) > 0 ? await this.select(db, id) : null
  }

  /** Deletes key `id`; false if no row went (missing, or a concurrent delete won). */
  async delete(db: QueryExecutorProvider, id: string): Promise<boolean> {
    return affectedRows(await sql`delete from ${this.#keys} where id = ${id}`.execute(db)) > 0
  }

  /** Raises `last_used_at` to `lastUsedAt`, never lowers it. */
  async raiseLastUsed(db: QueryExecutorProvider, id: string, lastUsedAt: number): Promise<void> {
    await sql`update ${this.#keys} set last_used_at = ${lastUsedAt}
      where id = ${id} and (last_used_at is null or last_used_at < ${lastUsedAt})`.execute(db)
  }
}
