import type { SqlDialectName } from './dialect.js'
import { renderChange } from './render-ddl.js'
import { checkTablePrefix, DEFAULT_TABLE_PREFIX, tableNames } from './schema.js'
import {
  column,
  createTable,
  epochMs,
  id,
  jsonText,
  type MigrationDefinition,
  nullableColumn,
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

/*
 * The schema, as the migrations that build it. A shipped migration never changes: databases
 * that ran it will not run it again. Change the schema with a new step instead, e.g.
 *   { name: '002_key_metadata', changes: [addColumns('keys', [nullableColumn('metadata', jsonText())])] }
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
  const tables = tableNames(checkTablePrefix(options.tablePrefix, 'getMigrations'))
  return MIGRATIONS.map(({ name, changes }) => ({
    name,
    statements: changes.flatMap((change) => renderChange(dialect, change, tables)),
  }))
}

const DIALECT_TITLES: Readonly<Record<SqlDialectName, string>> = {
  postgres: 'PostgreSQL',
  mysql: 'MySQL / MariaDB',
  sqlite: 'SQLite',
}

/**
 * A migration as the text of its plain `.sql` file (default prefix), as shipped in
 * `adapters/sql/migrations/<dialect>/<name>.sql`.
 */
export function renderMigrationFile(dialect: SqlDialectName, migration: SqlMigration): string {
  const header = [
    `-- portcullis ${migration.name} for ${DIALECT_TITLES[dialect]}.`,
    `-- The same statements migrate() runs (adapters/sql/migrations.ts), for teams that apply`,
    `-- migrations with their own tools. Tables use the default prefix "${DEFAULT_TABLE_PREFIX}": replace`,
    '-- it everywhere if you configure another tablePrefix. Every statement is idempotent.',
  ]
  return `${header.join('\n')}\n\n${migration.statements.map((statement) => `${statement};`).join('\n\n')}\n`
}

/**
 * Every shipped `.sql` file, by path under `adapters/sql/migrations/`: what
 * `npm run write:migrations` writes and what a test compares the committed files with.
 */
export function migrationFiles(): { readonly path: string; readonly text: string }[] {
  return DIALECTS.flatMap((dialect) =>
    getMigrations(dialect).map((migration) => ({
      path: `${dialect}/${migration.name}.sql`,
      text: renderMigrationFile(dialect, migration),
    })),
  )
}
