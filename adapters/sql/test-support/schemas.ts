/**
 * Looking at an installation's schema and building the state earlier releases left, for the
 * migration tests (`migrate.test.ts`, `migrate-upgrade.test.ts`).
 */
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sql } from 'kysely'
import type { SqlDialectName } from '../dialect.js'
import { DEFAULT_TABLE_PREFIX, type TableNames, tableNames } from '../schema.js'
import type { TestConnection, TestDatabase, TestKysely } from './databases.js'

const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'migrations')

/** The statements of a shipped `.sql` file, for the given table prefix. */
export function statementsOfFile(dialect: SqlDialectName, name: string, prefix: string): string[] {
  const text = readFileSync(join(migrationsDir, dialect, `${name}.sql`), 'utf8')
  return text
    .split(/;\n/)
    .map((part) => part.replace(/^--.*$/gm, '').trim())
    .filter((part) => part.length > 0)
    .map((statement) => statement.replaceAll(DEFAULT_TABLE_PREFIX, prefix))
}

/** The names of the indexes on one table, from the dialect's catalog. */
export async function indexesOf(
  connection: TestConnection,
  dialect: SqlDialectName,
  table: string,
): Promise<string[]> {
  const query =
    dialect === 'postgres'
      ? sql<{ name: string }>`select indexname as name from pg_indexes where tablename = ${table}`
      : dialect === 'mysql'
        ? sql<{
            name: string
          }>`select distinct index_name as name from information_schema.statistics
            where table_schema = database() and table_name = ${table}`
        : sql<{
            name: string
          }>`select name from sqlite_master where type = 'index' and tbl_name = ${table}`
  const { rows } = await query.execute(connection.db)
  return rows.map((row) => String(row.name)).sort()
}

/**
 * What the catalog says of one installation's tables: columns with their types, nullability
 * and defaults, indexes and constraints, and (MySQL) table options. The prefix is replaced by
 * `P_`, so two installations built the same way compare equal.
 */
export async function schemaOf(db: TestKysely, dialect: SqlDialectName, prefix: string) {
  const names = sql.join(Object.values(tableNames(prefix)))
  const queries =
    dialect === 'postgres'
      ? [
          sql`select table_name, column_name, ordinal_position, data_type, is_nullable,
            column_default, is_identity, identity_generation from information_schema.columns
            where table_schema = current_schema() and table_name in (${names})`,
          sql`select tablename, indexname, indexdef from pg_indexes
            where schemaname = current_schema() and tablename in (${names})`,
          sql`select conrelid::regclass::text as table_name, conname, pg_get_constraintdef(oid) as def
            from pg_constraint where conrelid::regclass::text in (${names})`,
        ]
      : dialect === 'mysql'
        ? [
            sql`select table_name, column_name, ordinal_position, column_type, is_nullable,
              column_default, extra, character_set_name, collation_name
              from information_schema.columns where table_schema = database() and table_name in (${names})`,
            sql`select table_name, index_name, non_unique, seq_in_index, column_name, sub_part, index_type
              from information_schema.statistics where table_schema = database() and table_name in (${names})`,
            sql`select table_name, engine, table_collation from information_schema.tables
              where table_schema = database() and table_name in (${names})`,
          ]
        : [sql`select type, name, tbl_name, sql from sqlite_master where tbl_name in (${names})`]
  const described: string[] = []
  for (const query of queries) {
    const { rows } = await query.execute(db)
    for (const row of rows) {
      const json = JSON.stringify(row, (_key, value: unknown) =>
        typeof value === 'bigint' ? value.toString() : value,
      )
      described.push(json.replaceAll(prefix, 'P_'))
    }
  }
  return described.sort()
}

/** The bookkeeping table as every release so far created it, spelled out independently. */
export function earlierMigrationsTable(dialect: SqlDialectName, table: string): string {
  const options =
    dialect === 'mysql' ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : ''
  return `CREATE TABLE IF NOT EXISTS ${table} (name VARCHAR(128) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)${options}`
}

/** Runs a shipped `.sql` file, as a team applying it with its own tool would. */
export async function applyShipped(
  dialect: SqlDialectName,
  name: string,
  target: TestDatabase,
  connection: TestConnection,
): Promise<void> {
  for (const statement of statementsOfFile(dialect, name, target.prefix)) {
    await sql.raw(statement).execute(connection.db)
  }
}

/** When the earlier release recorded its migrations, in the state built below. */
export const EARLIER_APPLIED_AT = 1_700_000_000_000

/**
 * What an earlier release's migrate() left: the shipped files of `through` (default 001_init,
 * pinned in migrate.test.ts), in order, each with its record.
 */
export async function migratedByEarlierRelease(
  dialect: SqlDialectName,
  target: TestDatabase,
  through: readonly string[] = ['001_init'],
): Promise<{ connection: TestConnection; tables: TableNames }> {
  const connection = target.connect()
  const tables = tableNames(target.prefix)
  await sql.raw(earlierMigrationsTable(dialect, tables.migrations)).execute(connection.db)
  for (const name of through) {
    await applyShipped(dialect, name, target, connection)
    await sql`insert into ${sql.table(tables.migrations)} (name, applied_at)
      values (${name}, ${EARLIER_APPLIED_AT})`.execute(connection.db)
  }
  return { connection, tables }
}

/** The migrations recorded as applied, by name, with when. */
export async function recordedMigrations(
  connection: TestConnection,
  table: string,
): Promise<(readonly [string, number])[]> {
  const { rows } = await sql<{ name: string; applied_at: unknown }>`select name, applied_at
    from ${sql.table(table)}`.execute(connection.db)
  return rows
    .map((row) => [String(row.name), Number(row.applied_at)] as const)
    .sort(([a], [b]) => a.localeCompare(b))
}

/** The names of one table's columns, from the dialect's catalog. */
export async function columnsOf(
  connection: TestConnection,
  dialect: SqlDialectName,
  table: string,
): Promise<string[]> {
  const query =
    dialect === 'sqlite'
      ? sql<{ name: string }>`select name from pragma_table_info(${table})`
      : dialect === 'mysql'
        ? sql<{ name: string }>`select column_name as name from information_schema.columns
            where table_schema = database() and table_name = ${table}`
        : sql<{ name: string }>`select column_name as name from information_schema.columns
            where table_schema = current_schema() and table_name = ${table}`
  const { rows } = await query.execute(connection.db)
  return rows.map((row) => String(row.name))
}
