import { type QueryExecutorProvider, sql } from 'kysely'
import type { StoreChange } from '../../src/index.js'
import type { SqlDialectName } from './dialect.js'

/**
 * Records a change in the changes table, inside the caller's transaction, so it exists exactly
 * when the write it describes does. On PostgreSQL the same statement also NOTIFYs the channel;
 * the notification is delivered at commit, and never for a rolled-back write. Its payload is
 * the StoreChange as JSON with the row's `seq` added, so listeners can tell what they missed.
 */
export async function recordChange(
  trx: QueryExecutorProvider,
  dialect: SqlDialectName,
  table: string,
  change: StoreChange,
  now: number,
): Promise<void> {
  const payload = JSON.stringify(change)
  if (dialect === 'postgres') {
    await sql`with inserted as (
        insert into ${sql.table(table)} (payload, created_at) values (${payload}, ${now}) returning seq
      )
      select pg_notify(${table}, (${payload}::jsonb || jsonb_build_object('seq', inserted.seq))::text)
      from inserted`.execute(trx)
    return
  }
  await sql`insert into ${sql.table(table)} (payload, created_at) values (${payload}, ${now})`.execute(
    trx,
  )
}
