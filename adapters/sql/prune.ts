import { type RawBuilder, sql } from 'kysely'
import type { SqlDatabase, SqlDialectName } from './dialect.js'
import { integer, type SqlRow } from './rows.js'
import type { TableNames } from './schema.js'

/** Rows deleted per statement, so pruning a backlog never holds locks for long. */
const BATCH = 1000

/** Deletes the rows of `table` matching `where`, in batches, and returns how many went. */
async function deleteInBatches(
  db: SqlDatabase,
  dialect: SqlDialectName,
  table: string,
  keyColumn: string,
  where: RawBuilder<unknown>,
): Promise<number> {
  const target = sql.table(table)
  const key = sql.ref(keyColumn)
  let total = 0
  for (;;) {
    // MySQL has DELETE … LIMIT but refuses LIMIT in an IN subquery; the others the reverse.
    const statement =
      dialect === 'mysql'
        ? sql`delete from ${target} where ${where} limit ${BATCH}`
        : sql`delete from ${target} where ${key} in (select ${key} from ${target} where ${where} limit ${BATCH})`
    const { numAffectedRows } = await statement.execute(db)
    const deleted = Number(numAffectedRows ?? 0n)
    total += deleted
    if (deleted < BATCH) return total
  }
}

/** The contract's `prune`: expired sessions and keys, each by its own cutoff. */
export async function pruneExpired(
  db: SqlDatabase,
  dialect: SqlDialectName,
  tables: TableNames,
  cutoff: { readonly sessionsExpiredBefore: number; readonly keysExpiredBefore: number },
): Promise<number> {
  const sessions = await deleteInBatches(
    db,
    dialect,
    tables.sessions,
    'id',
    sql`expires_at <= ${cutoff.sessionsExpiredBefore}`,
  )
  const keys = await deleteInBatches(
    db,
    dialect,
    tables.keys,
    'seq',
    sql`expires_at is not null and expires_at <= ${cutoff.keysExpiredBefore}`,
  )
  return sessions + keys
}

/**
 * Deletes changes recorded at or before `createdBefore`, except the newest one: an empty table
 * could let MySQL (before 8.0) restart its auto-increment counter after a server restart and
 * reuse numbers that watchers have already passed.
 */
export async function pruneChanges(
  db: SqlDatabase,
  dialect: SqlDialectName,
  table: string,
  createdBefore: number,
): Promise<number> {
  const { rows } = await sql<SqlRow>`select max(seq) as seq from ${sql.table(table)}`.execute(db)
  const newest = rows[0]
  if (newest === undefined || newest.seq === null || newest.seq === undefined) return 0
  const keep = integer(newest, 'seq')
  return deleteInBatches(
    db,
    dialect,
    table,
    'seq',
    sql`created_at <= ${createdBefore} and seq < ${keep}`,
  )
}

/**
 * Runs `task` every `intervalMs` off the request path: the timer is unref'd (it never keeps
 * the process alive), a run still in progress is never overlapped, and failures go to
 * `onError`. Returns a function that stops it.
 */
export function runEvery(
  intervalMs: number,
  task: () => Promise<unknown>,
  onError: (error: unknown) => void,
): () => void {
  let running = false
  const timer = setInterval(() => {
    if (running) return
    running = true
    task()
      .catch(onError)
      .finally(() => {
        running = false
      })
  }, intervalMs)
  timer.unref()
  return () => clearInterval(timer)
}
