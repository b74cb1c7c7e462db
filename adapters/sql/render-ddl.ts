/**
 * Renders the declarations of `schema-definition.ts` as one dialect's DDL. These strings are
 * what `migrate()` runs and what the shipped `.sql` files contain, so their text is part of
 * the package's contract: a rendering change must leave already-shipped migrations unchanged.
 */
import type { SqlDialectName } from './dialect.js'
import type { TableNames } from './schema.js'
import type {
  ColumnDefinition,
  ColumnType,
  IndexDefinition,
  SchemaChange,
  TableDefinition,
} from './schema-definition.js'

/*
 * Column choices:
 * - Timestamps and durations are BIGINT epoch milliseconds (INTEGER in SQLite, its 64-bit type).
 * - `serial` orders rows by insertion, also when two share a timestamp. SQLite needs
 *   AUTOINCREMENT so that a pruned, empty table never hands out a number twice (`watch()`
 *   polls `changes.seq` as a cursor).
 * - MySQL/MariaDB: ids and hashes are VARBINARY, so comparisons are exact bytes: no case
 *   folding (default collations are case-insensitive) and no trailing-space padding
 *   (`utf8mb4_bin` pads, so 'bob' and 'bob ' would be one client). PostgreSQL's and SQLite's
 *   default text comparison is already exact, so plain text there.
 */

/** Every MySQL table portcullis creates; utf8mb4_bin keeps the remaining text exact too. */
export const MYSQL_TABLE_OPTIONS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin'

function postgresType(type: ColumnType): string {
  switch (type.kind) {
    case 'serial':
      return 'bigint GENERATED ALWAYS AS IDENTITY'
    case 'epochMs':
      return 'bigint'
    case 'id':
    case 'text':
    case 'json-text':
      return 'text'
  }
}

function mysqlType(type: ColumnType): string {
  switch (type.kind) {
    case 'serial':
    case 'epochMs':
      return 'BIGINT'
    case 'id':
      return `VARBINARY(${type.maxBytes})`
    case 'text':
      return type.maxLength === undefined ? 'TEXT' : `VARCHAR(${type.maxLength})`
    case 'json-text':
      return 'TEXT'
  }
}

function sqliteType(type: ColumnType): string {
  return type.kind === 'serial' || type.kind === 'epochMs' ? 'INTEGER' : 'TEXT'
}

function postgresColumn(c: ColumnDefinition, primaryKey: boolean): string {
  const constraint = primaryKey ? ' PRIMARY KEY' : c.nullable ? '' : ' NOT NULL'
  return `${c.name} ${postgresType(c.type)}${constraint}`
}

function mysqlColumn(c: ColumnDefinition): string {
  const increment = c.type.kind === 'serial' ? ' AUTO_INCREMENT' : ''
  return `${c.name} ${mysqlType(c.type)} ${c.nullable ? 'NULL' : 'NOT NULL'}${increment}`
}

function sqliteColumn(c: ColumnDefinition, primaryKey: boolean): string {
  if (!primaryKey) return `${c.name} ${sqliteType(c.type)}${c.nullable ? '' : ' NOT NULL'}`
  // INTEGER PRIMARY KEY is the rowid, never NULL; any other SQLite primary key accepts NULL
  // unless told otherwise (a compatibility quirk SQLite keeps).
  const rest = c.type.kind === 'serial' ? ' AUTOINCREMENT' : ' NOT NULL'
  return `${c.name} ${sqliteType(c.type)} PRIMARY KEY${rest}`
}

function columnList(columns: readonly string[]): string {
  return `(${columns.join(', ')})`
}

function tableBody(lines: readonly string[]): string {
  return `(\n${lines.map((line) => `  ${line}`).join(',\n')}\n)`
}

/** PostgreSQL and SQLite: the table, then each index as its own idempotent statement. */
function createTableWithIndexes(
  dialect: 'postgres' | 'sqlite',
  definition: TableDefinition,
  name: string,
): string[] {
  const render = dialect === 'postgres' ? postgresColumn : sqliteColumn
  const lines = definition.columns.map((c) => render(c, c.name === definition.primaryKey))
  const index = (i: IndexDefinition) => {
    const where = i.skipNulls
      ? ` WHERE ${i.columns.map((c) => `${c} IS NOT NULL`).join(' AND ')}`
      : ''
    const unique = i.unique ? 'UNIQUE ' : ''
    return `CREATE ${unique}INDEX IF NOT EXISTS ${name}_${i.suffix} ON ${name} ${columnList(i.columns)}${where}`
  }
  return [
    `CREATE TABLE IF NOT EXISTS ${name} ${tableBody(lines)}`,
    ...definition.indexes.map(index),
  ]
}

/**
 * MySQL/MariaDB: indexes are declared inside CREATE TABLE. MySQL has no CREATE INDEX IF NOT
 * EXISTS, and a table then appears together with its indexes (MySQL DDL is not transactional).
 * Partial indexes do not exist there, so `skipNulls` indexes cover every row.
 */
function mysqlCreateTable(definition: TableDefinition, name: string): string[] {
  const lines = [
    ...definition.columns.map(mysqlColumn),
    `PRIMARY KEY (${definition.primaryKey})`,
    ...definition.indexes.map(
      (i) => `${i.unique ? 'UNIQUE KEY' : 'KEY'} ${name}_${i.suffix} ${columnList(i.columns)}`,
    ),
  ]
  return [`CREATE TABLE IF NOT EXISTS ${name} ${tableBody(lines)} ${MYSQL_TABLE_OPTIONS}`]
}

/**
 * Added columns are nullable, so existing rows simply read NULL.
 * - PostgreSQL: one idempotent statement (ADD COLUMN IF NOT EXISTS, 9.6+).
 * - MySQL/MariaDB: one statement, so the columns appear together; MySQL lacks IF NOT EXISTS
 *   here, so `migrate()` reads "Duplicate column name", every column being there, as applied.
 * - SQLite: one column per ALTER TABLE, as SQLite requires; `migrate()` runs them in the same
 *   transaction that records the migration.
 */
function addColumnsStatements(
  dialect: SqlDialectName,
  name: string,
  columns: readonly ColumnDefinition[],
): string[] {
  if (dialect === 'sqlite') {
    return columns.map((c) => `ALTER TABLE ${name} ADD COLUMN ${sqliteColumn(c, false)}`)
  }
  const adds =
    dialect === 'postgres'
      ? columns.map((c) => `ADD COLUMN IF NOT EXISTS ${postgresColumn(c, false)}`)
      : columns.map((c) => `ADD COLUMN ${mysqlColumn(c)}`)
  return [`ALTER TABLE ${name} ${adds.join(', ')}`]
}

/** The statements of one schema change for one dialect and installation (table prefix). */
export function renderChange(
  dialect: SqlDialectName,
  change: SchemaChange,
  tables: TableNames,
): string[] {
  if (change.kind === 'addColumns') {
    return addColumnsStatements(dialect, tables[change.table], change.columns)
  }
  const name = tables[change.definition.table]
  return dialect === 'mysql'
    ? mysqlCreateTable(change.definition, name)
    : createTableWithIndexes(dialect, change.definition, name)
}

/**
 * The bookkeeping table `migrate()` keeps (not part of the plain `.sql` files). Spelled the same
 * in every dialect, and kept verbatim: it predates the declarations and is created with
 * IF NOT EXISTS on every run, so its types stay as existing installations have them.
 */
export function migrationsTableStatement(dialect: SqlDialectName, table: string): string {
  const suffix = dialect === 'mysql' ? ` ${MYSQL_TABLE_OPTIONS}` : ''
  return `CREATE TABLE IF NOT EXISTS ${table} (name VARCHAR(128) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)${suffix}`
}
