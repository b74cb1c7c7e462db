/**
 * The vocabulary the SQL schema is declared in: tables as columns of logical types, a primary
 * key and indexes, and migrations as lists of changes. `render-ddl.ts` turns each change into
 * one dialect's statements, so the schema is written once for PostgreSQL, MySQL/MariaDB and
 * SQLite, and the shipped `.sql` files are generated from the same declarations.
 */
import type { TableNames } from './schema.js'

/**
 * What a column holds; each dialect picks its own type for it (see `render-ddl.ts`):
 * - `serial`: a counter the database assigns on insert, in insertion order; always the
 *   primary key.
 * - `id`: an identifier or hash compared as exact bytes, at most `maxBytes` long.
 * - `text`: free text; `maxLength` caps it where a dialect needs a bound (MySQL `VARCHAR`).
 * - `json-text`: a JSON document stored as text.
 * - `epochMs`: a timestamp or duration in milliseconds, a 64-bit integer.
 */
export type ColumnType =
  | { readonly kind: 'serial' }
  | { readonly kind: 'id'; readonly maxBytes: number }
  | { readonly kind: 'text'; readonly maxLength?: number }
  | { readonly kind: 'json-text' }
  | { readonly kind: 'epochMs' }

export const serial = (): ColumnType => ({ kind: 'serial' })
/** 128 bytes fit every id and hash portcullis makes; client ids are the caller's, so longer. */
export const id = (maxBytes = 128): ColumnType => ({ kind: 'id', maxBytes })
export const text = (maxLength?: number): ColumnType =>
  maxLength === undefined ? { kind: 'text' } : { kind: 'text', maxLength }
export const jsonText = (): ColumnType => ({ kind: 'json-text' })
export const epochMs = (): ColumnType => ({ kind: 'epochMs' })

export interface ColumnDefinition {
  readonly name: string
  readonly type: ColumnType
  readonly nullable: boolean
}

/** A NOT NULL column. */
export function column(name: string, type: ColumnType): ColumnDefinition {
  return { name, type, nullable: false }
}

/** A column that may hold NULL. */
export function nullableColumn(name: string, type: ColumnType): ColumnDefinition {
  return { name, type, nullable: true }
}

export interface IndexDefinition {
  /** Appended to the table name: index `<table>_<suffix>`. */
  readonly suffix: string
  readonly columns: readonly string[]
  readonly unique?: boolean
  /**
   * Rows whose indexed columns are NULL need no entry: a partial index (`WHERE … IS NOT NULL`)
   * where the dialect has them (PostgreSQL, SQLite); MySQL/MariaDB index every row.
   */
  readonly skipNulls?: boolean
}

/** The tables portcullis declares (the migrations table is `migrate()`'s own bookkeeping). */
export type DataTable = Exclude<keyof TableNames, 'migrations'>

export interface TableDefinition {
  readonly table: DataTable
  readonly columns: readonly ColumnDefinition[]
  /** One column; a `serial` column must be it. */
  readonly primaryKey: string
  readonly indexes: readonly IndexDefinition[]
}

/** One step of a migration, rendered per dialect by `renderChange`. */
export type SchemaChange =
  | { readonly kind: 'createTable'; readonly definition: TableDefinition }
  | {
      readonly kind: 'addColumns'
      readonly table: DataTable
      readonly columns: readonly ColumnDefinition[]
    }

/** A named migration: applied at most once per installation, in name order. */
export interface MigrationDefinition {
  /** Stable, sortable, e.g. `001_init`; recorded by `migrate()` and names the `.sql` files. */
  readonly name: string
  readonly changes: readonly SchemaChange[]
}

function fail(message: string): never {
  throw new Error(`portcullis schema definition: ${message}`)
}

/** Declares a new table; the checks run when the module loads, so a slip fails every test. */
export function createTable(definition: TableDefinition): SchemaChange {
  const names = new Set(definition.columns.map((c) => c.name))
  if (names.size !== definition.columns.length) fail(`${definition.table}: duplicate column`)
  const primary = definition.columns.find((c) => c.name === definition.primaryKey)
  if (primary === undefined || primary.nullable) {
    fail(`${definition.table}: primary key ${definition.primaryKey} must be a NOT NULL column`)
  }
  for (const c of definition.columns) {
    if (c.type.kind === 'serial' && c !== primary) {
      // SQLite's AUTOINCREMENT and PostgreSQL's identity are declared on the primary key here.
      fail(`${definition.table}.${c.name}: a serial column must be the primary key`)
    }
  }
  for (const index of definition.indexes) {
    const missing = index.columns.filter((name) => !names.has(name))
    if (index.columns.length === 0 || missing.length > 0) {
      fail(`${definition.table}_${index.suffix}: unknown columns ${missing.join(', ')}`)
    }
  }
  return { kind: 'createTable', definition }
}

/**
 * Adds columns to an existing table. They must be nullable and not serial: existing rows get
 * NULL, and no dialect can fill a new NOT NULL column without a default.
 */
export function addColumns(table: DataTable, columns: readonly ColumnDefinition[]): SchemaChange {
  if (columns.length === 0) fail(`${table}: addColumns needs at least one column`)
  for (const c of columns) {
    if (!c.nullable || c.type.kind === 'serial') {
      fail(`${table}.${c.name}: an added column must be nullable and not serial`)
    }
  }
  return { kind: 'addColumns', table, columns }
}
