import type { SqlDialectName } from './dialect.js'
import { renderChange } from './render-ddl.js'
import type { TableNames } from './schema.js'
import { checkTablePrefix, DEFAULT_TABLE_PREFIX, tableNames } from './schema.js'
import {
  addColumns,
  column,
  createTable,
  epochMs,
  id,
  jsonText,
  type MigrationDefinition,
  nullableColumn,
  type SchemaChange,
  serial,
  text,
} from './schema-definition.js'

/** One schema step: statements run in order, recorded under `name` once they all succeeded. */
export interface SqlMigration {
  /** Stable, sortable name, e.g. `001_init`; also the name of its plain `.sql` file. */
  readonly name: string
  /** Executable statements, without trailing semicolons. */
  readonly statements: readonly string[]
}

/**
 * One statement of a migration as `migrate()` runs it, with what it needs to know to rerun the
 * step safely after a run that stopped halfway.
 */
export interface PlannedStatement {
  readonly sql: string
  /**
   * Set when the statement adds columns (`addColumns`): the table and the columns it adds.
   * MySQL has no ADD COLUMN IF NOT EXISTS, so `migrate()` reads "Duplicate column name" for
   * these, with the columns all there, as "already applied".
   */
  readonly addsColumns?: { readonly table: string; readonly columns: readonly string[] }
}

/** A migration as `migrate()` runs it. */
export interface PlannedMigration {
  readonly name: string
  readonly statements: readonly PlannedStatement[]
}

/*
 * The schema, as the migrations that build it. A shipped migration never changes: databases
 * that ran it will not run it again. Change the schema with a new step instead, e.g.
 *   { name: '004_…', changes: [addColumns('keys', [nullableColumn('…', jsonText())])] }
 * then run `npm run write:migrations` to add its `.sql` files.
 */
const MIGRATIONS: readonly MigrationDefinition[] = [
  {
    name: '001_init',
    changes: [
      createTable({
        table: 'keys',
        columns: [
          // Orders a project's keys by creation, also when two share a createdAt.
          column('seq', serial()),
          column('id', id()),
          column('project_id', id()),
          column('type', text(16)),
          column('mode', text(8)),
          column('name', text(255)),
          column('hash', id()),
          column('prefix', text(64)),
          column('last4', text(16)),
          // A JSON array of strings.
          column('allowed_ips', jsonText()),
          nullableColumn('client_id', id(1024)),
          column('created_at', epochMs()),
          nullableColumn('expires_at', epochMs()),
          nullableColumn('last_used_at', epochMs()),
          nullableColumn('rolled_to_id', id()),
          nullableColumn('rolled_from_id', id()),
          nullableColumn('sealed_secret', text()),
        ],
        primaryKey: 'seq',
        indexes: [
          { suffix: 'id_key', columns: ['id'], unique: true },
          { suffix: 'hash_key', columns: ['hash'], unique: true },
          { suffix: 'project_idx', columns: ['project_id', 'seq'] },
          // Most keys never expire; the pruner only looks for those that do.
          { suffix: 'expires_idx', columns: ['expires_at'], skipNulls: true },
        ],
      }),
      createTable({
        table: 'sessions',
        columns: [
          column('id', id()),
          column('project_id', id()),
          column('mode', text(8)),
          column('client_id', id(1024)),
          column('created_at', epochMs()),
          column('idle_timeout_ms', epochMs()),
          column('expires_at', epochMs()),
          column('max_expires_at', epochMs()),
          nullableColumn('revoked_at', epochMs()),
        ],
        primaryKey: 'id',
        indexes: [
          { suffix: 'client_idx', columns: ['project_id', 'mode', 'client_id'] },
          { suffix: 'expires_idx', columns: ['expires_at'] },
        ],
      }),
      createTable({
        table: 'changes',
        columns: [
          // The cursor `watch()` polls by.
          column('seq', serial()),
          column('payload', jsonText()),
          column('created_at', epochMs()),
        ],
        primaryKey: 'seq',
        indexes: [{ suffix: 'created_idx', columns: ['created_at'] }],
      }),
    ],
  },
  {
    name: '002_key_permissions_metadata',
    changes: [
      // JSON objects: a restricted key's grants, and the metadata of any key. Rows from before
      // this step read NULL for both, which is what such a key has (no grants, no metadata).
      addColumns('keys', [
        nullableColumn('permissions', jsonText()),
        nullableColumn('metadata', jsonText()),
      ]),
    ],
  },
  {
    name: '003_key_client_restrictions',
    changes: [
      // JSON object: what a publishable key is limited to (web origins, Android apps or iOS
      // bundle ids). Rows from before this step read NULL: unrestricted, as every key was then.
      addColumns('keys', [nullableColumn('client_restrictions', jsonText())]),
    ],
  },
]

const DIALECTS: readonly SqlDialectName[] = ['postgres', 'mysql', 'sqlite']

/**
 * The migrations `migrate()` applies, in order, as SQL for one dialect and table prefix. Use it
 * to feed your own migration tool, or read the same SQL in the package's
 * `adapters/sql/migrations/<dialect>/*.sql` files (written for the default prefix).
 *
 * @example
 * ```ts
 * import { getMigrations } from 'portcullis/adapters/sql'
 *
 * for (const migration of getMigrations('postgres', { tablePrefix: 'auth_' })) {
 *   console.log(`-- ${migration.name}\n${migration.statements.join(';\n')};`)
 * }
 * ```
 */
export function getMigrations(
  dialect: SqlDialectName,
  options: { readonly tablePrefix?: string } = {},
): SqlMigration[] {
  if (!DIALECTS.includes(dialect)) {
    throw new TypeError(`getMigrations: dialect must be one of ${DIALECTS.join(', ')}`)
  }
  const prefix = checkTablePrefix(options.tablePrefix, 'getMigrations')
  return planMigrations(dialect, prefix).map(({ name, statements }) => ({
    name,
    statements: statements.map((statement) => statement.sql),
  }))
}

function plannedStatements(
  dialect: SqlDialectName,
  change: SchemaChange,
  tables: TableNames,
): PlannedStatement[] {
  const statements = renderChange(dialect, change, tables)
  if (change.kind !== 'addColumns') return statements.map((sql) => ({ sql }))
  const table = tables[change.table]
  const names = change.columns.map((c) => c.name)
  // SQLite adds one column a statement, in order; the others add them all in one.
  return statements.map((sql, i) => ({
    sql,
    addsColumns: { table, columns: dialect === 'sqlite' ? names.slice(i, i + 1) : names },
  }))
}

/** The migrations for one dialect and (checked) table prefix, as `migrate()` runs them. */
export function planMigrations(dialect: SqlDialectName, tablePrefix: string): PlannedMigration[] {
  const tables = tableNames(tablePrefix)
  return MIGRATIONS.map(({ name, changes }) => ({
    name,
    statements: changes.flatMap((change) => plannedStatements(dialect, change, tables)),
  }))
}

const DIALECT_TITLES: Readonly<Record<SqlDialectName, string>> = {
  postgres: 'PostgreSQL',
  mysql: 'MySQL / MariaDB',
  sqlite: 'SQLite',
}

// The end of a file's header when it adds columns: how it behaves when run again. Only
// PostgreSQL can say ADD COLUMN IF NOT EXISTS; `migrate()` handles the others (`runStatement`).
const ADD_COLUMN_RERUN = {
  mysql: [
    '-- MySQL has no ADD COLUMN IF NOT EXISTS: run again after its ALTER TABLE succeeded, this',
    '-- file fails with "Duplicate column name" (error 1060), which means the step is applied.',
  ],
  sqlite: [
    '-- SQLite has no ADD COLUMN IF NOT EXISTS: run the file in one transaction, so that it',
    '-- applies whole or not at all; run again after it committed, it fails with "duplicate',
    '-- column name", which means the step is applied.',
  ],
} as const

/**
 * A migration as the text of its plain `.sql` file (default prefix), as shipped in
 * `adapters/sql/migrations/<dialect>/<name>.sql`.
 */
export function renderMigrationFile(dialect: SqlDialectName, migration: PlannedMigration): string {
  const addsColumns = migration.statements.some((s) => s.addsColumns !== undefined)
  const prefix = '-- it everywhere if you configure another tablePrefix.'
  const rerun =
    !addsColumns || dialect === 'postgres'
      ? [`${prefix} Every statement is idempotent.`]
      : [prefix, ...ADD_COLUMN_RERUN[dialect]]
  const header = [
    `-- portcullis ${migration.name} for ${DIALECT_TITLES[dialect]}.`,
    `-- The same statements migrate() runs (adapters/sql/migrations.ts), for teams that apply`,
    `-- migrations with their own tools. Tables use the default prefix "${DEFAULT_TABLE_PREFIX}": replace`,
    ...rerun,
  ]
  const statements = migration.statements.map((statement) => `${statement.sql};`)
  return `${header.join('\n')}\n\n${statements.join('\n\n')}\n`
}

/**
 * Every shipped `.sql` file, by path under `adapters/sql/migrations/`: what
 * `npm run write:migrations` writes and what a test compares the committed files with.
 */
export function migrationFiles(): { readonly path: string; readonly text: string }[] {
  return DIALECTS.flatMap((dialect) =>
    planMigrations(dialect, DEFAULT_TABLE_PREFIX).map((migration) => ({
      path: `${dialect}/${migration.name}.sql`,
      text: renderMigrationFile(dialect, migration),
    })),
  )
}
