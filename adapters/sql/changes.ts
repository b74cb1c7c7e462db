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

const isString = (value: unknown): value is string => typeof value === 'string'

/**
 * Reads a change back from its JSON (a changes-table row or a notification payload). Anything
 * that is not a well-formed StoreChange yields null: the database is shared, so its contents
 * are checked rather than trusted.
 */
export function parseChange(json: string): StoreChange | null {
  let value: unknown
  try {
    value = JSON.parse(json)
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const fields = value as Record<string, unknown>
  switch (fields.type) {
    case 'key':
      return isString(fields.keyId) && isString(fields.hash)
        ? { type: 'key', keyId: fields.keyId, hash: fields.hash }
        : null
    case 'session':
      return isString(fields.sessionId) ? { type: 'session', sessionId: fields.sessionId } : null
    case 'client':
      return isString(fields.projectId) &&
        (fields.mode === 'test' || fields.mode === 'live') &&
        isString(fields.clientId)
        ? {
            type: 'client',
            projectId: fields.projectId,
            mode: fields.mode,
            clientId: fields.clientId,
          }
        : null
    default:
      return null
  }
}
