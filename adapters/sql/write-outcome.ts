import type { QueryExecutorProvider, RawBuilder } from 'kysely'
import { duplicateError, isUniqueViolation } from './sql-errors.js'

/*
 * What a write statement's outcome means to the store, the same in every dialect.
 */

/** How many rows an UPDATE or DELETE changed (MySQL counts only rows whose values changed). */
export const affectedRows = (result: { numAffectedRows?: bigint }): number =>
  Number(result.numAffectedRows ?? 0n)

/** Runs an INSERT of a `what`; a duplicate id (or key hash) throws `ConflictError`. */
export async function insertUnique(
  db: QueryExecutorProvider,
  insert: RawBuilder<unknown>,
  what: 'key' | 'session',
): Promise<void> {
  try {
    await insert.execute(db)
  } catch (error) {
    throw isUniqueViolation(error) ? duplicateError(what) : error
  }
}
