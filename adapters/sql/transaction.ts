import { type QueryExecutorProvider, sql } from 'kysely'
import { DIALECT_TRAITS, type SqlDatabase, type SqlDialectName } from './dialect.js'
import { isRetryableConflict } from './sql-errors.js'

const MAX_ATTEMPTS = 3

/**
 * Runs `body` in one transaction on one pooled connection: committed if it resolves, rolled
 * back if it throws. SQLite opens it with `BEGIN IMMEDIATE`, taking the write lock before the
 * first read, so two processes never deadlock upgrading a read lock. A deadlock or
 * serialization failure reruns the whole body (at most three attempts), so `body` must do
 * nothing outside the database that cannot be repeated.
 */
export async function inTransaction<T>(
  db: SqlDatabase,
  dialect: SqlDialectName,
  body: (trx: QueryExecutorProvider) => Promise<T>,
): Promise<T> {
  const begin = sql.raw(DIALECT_TRAITS[dialect].begin)
  return retryConflicts(() =>
    db.connection().execute(async (connection) => {
      await begin.execute(connection)
      let result: T
      try {
        result = await body(connection)
      } catch (error) {
        await rollback(connection)
        throw error
      }
      try {
        await sql.raw('commit').execute(connection)
      } catch (error) {
        await rollback(connection)
        throw error
      }
      return result
    }),
  )
}

/**
 * Runs `body` again when the database picked it as a deadlock or serialization-failure victim
 * (at most three attempts in all), as MySQL and PostgreSQL ask of their clients. Only for work
 * that is safe to repeat.
 */
export async function retryConflicts<T>(body: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await body()
    } catch (error) {
      if (attempt >= MAX_ATTEMPTS || !isRetryableConflict(error)) throw error
    }
  }
}

async function rollback(connection: QueryExecutorProvider): Promise<void> {
  try {
    await sql.raw('rollback').execute(connection)
  } catch {
    // The connection is gone or the transaction already ended: the original error matters.
  }
}
