import type { SqlDialectName } from './dialect.js'
import { checkTablePrefix, DEFAULT_TABLE_PREFIX, type TableNames, tableNames } from './schema.js'

/** One schema step: statements run in order, recorded under `name` once they all succeeded. */
export interface SqlMigration {
  /** Stable, sortable name, e.g. `001_init`; also the name of its plain `.sql` file. */
  readonly name: string
  /** Executable statements, without trailing semicolons. */
  readonly statements: readonly string[]
}

/*
 * Column choices, the same in every dialect:
 * - Timestamps and durations are BIGINT epoch milliseconds (INTEGER in SQLite).
 * - `keys.seq` orders keys by insertion ("creation order"), also when two share a createdAt.
 * - `changes.seq` is the cursor `watch()` polls by; SQLite needs AUTOINCREMENT so that a
 *   pruned, empty table never hands out a number twice.
 * - MySQL/MariaDB: identifiers and hashes are VARBINARY, so comparisons are exact bytes: no
 *   case folding (default collations are case-insensitive) and no trailing-space padding
 *   (`utf8mb4_bin` pads, so 'bob' and 'bob ' would be one client). PostgreSQL's and SQLite's
 *   default text comparison is already exact.
 * - `allowed_ips` is a JSON array of strings, stored as text.
 */

function postgresInit(t: TableNames): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${t.keys} (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id text NOT NULL,
  project_id text NOT NULL,
  type text NOT NULL,
  mode text NOT NULL,
  name text NOT NULL,
  hash text NOT NULL,
  prefix text NOT NULL,
  last4 text NOT NULL,
  allowed_ips text NOT NULL,
  client_id text,
  created_at bigint NOT NULL,
  expires_at bigint,
  last_used_at bigint,
  rolled_to_id text,
  rolled_from_id text,
  sealed_secret text
)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS ${t.keys}_id_key ON ${t.keys} (id)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS ${t.keys}_hash_key ON ${t.keys} (hash)`,
    `CREATE INDEX IF NOT EXISTS ${t.keys}_project_idx ON ${t.keys} (project_id, seq)`,
    `CREATE INDEX IF NOT EXISTS ${t.keys}_expires_idx ON ${t.keys} (expires_at) WHERE expires_at IS NOT NULL`,
    `CREATE TABLE IF NOT EXISTS ${t.sessions} (
  id text PRIMARY KEY,
  project_id text NOT NULL,
  mode text NOT NULL,
  client_id text NOT NULL,
  created_at bigint NOT NULL,
  idle_timeout_ms bigint NOT NULL,
  expires_at bigint NOT NULL,
  max_expires_at bigint NOT NULL,
  revoked_at bigint
)`,
    `CREATE INDEX IF NOT EXISTS ${t.sessions}_client_idx ON ${t.sessions} (project_id, mode, client_id)`,
    `CREATE INDEX IF NOT EXISTS ${t.sessions}_expires_idx ON ${t.sessions} (expires_at)`,
    `CREATE TABLE IF NOT EXISTS ${t.changes} (
  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  payload text NOT NULL,
  created_at bigint NOT NULL
)`,
    `CREATE INDEX IF NOT EXISTS ${t.changes}_created_idx ON ${t.changes} (created_at)`,
  ]
}

function mysqlInit(t: TableNames): string[] {
  // Indexes are declared inside CREATE TABLE: MySQL has no CREATE INDEX IF NOT EXISTS, and a
  // table then appears together with its indexes (MySQL DDL is not transactional).
  const table = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin'
  return [
    `CREATE TABLE IF NOT EXISTS ${t.keys} (
  seq BIGINT NOT NULL AUTO_INCREMENT,
  id VARBINARY(128) NOT NULL,
  project_id VARBINARY(128) NOT NULL,
  type VARCHAR(16) NOT NULL,
  mode VARCHAR(8) NOT NULL,
  name VARCHAR(255) NOT NULL,
  hash VARBINARY(128) NOT NULL,
  prefix VARCHAR(64) NOT NULL,
  last4 VARCHAR(16) NOT NULL,
  allowed_ips TEXT NOT NULL,
  client_id VARBINARY(1024) NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NULL,
  last_used_at BIGINT NULL,
  rolled_to_id VARBINARY(128) NULL,
  rolled_from_id VARBINARY(128) NULL,
  sealed_secret TEXT NULL,
  PRIMARY KEY (seq),
  UNIQUE KEY ${t.keys}_id_key (id),
  UNIQUE KEY ${t.keys}_hash_key (hash),
  KEY ${t.keys}_project_idx (project_id, seq),
  KEY ${t.keys}_expires_idx (expires_at)
) ${table}`,
    `CREATE TABLE IF NOT EXISTS ${t.sessions} (
  id VARBINARY(128) NOT NULL,
  project_id VARBINARY(128) NOT NULL,
  mode VARCHAR(8) NOT NULL,
  client_id VARBINARY(1024) NOT NULL,
  created_at BIGINT NOT NULL,
  idle_timeout_ms BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  max_expires_at BIGINT NOT NULL,
  revoked_at BIGINT NULL,
  PRIMARY KEY (id),
  KEY ${t.sessions}_client_idx (project_id, mode, client_id),
  KEY ${t.sessions}_expires_idx (expires_at)
) ${table}`,
    `CREATE TABLE IF NOT EXISTS ${t.changes} (
  seq BIGINT NOT NULL AUTO_INCREMENT,
  payload TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (seq),
  KEY ${t.changes}_created_idx (created_at)
) ${table}`,
  ]
}

function sqliteInit(t: TableNames): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${t.keys} (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL,
  project_id TEXT NOT NULL,
  type TEXT NOT NULL,
  mode TEXT NOT NULL,
  name TEXT NOT NULL,
  hash TEXT NOT NULL,
  prefix TEXT NOT NULL,
  last4 TEXT NOT NULL,
  allowed_ips TEXT NOT NULL,
  client_id TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  last_used_at INTEGER,
  rolled_to_id TEXT,
  rolled_from_id TEXT,
  sealed_secret TEXT
)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS ${t.keys}_id_key ON ${t.keys} (id)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS ${t.keys}_hash_key ON ${t.keys} (hash)`,
    `CREATE INDEX IF NOT EXISTS ${t.keys}_project_idx ON ${t.keys} (project_id, seq)`,
    `CREATE INDEX IF NOT EXISTS ${t.keys}_expires_idx ON ${t.keys} (expires_at) WHERE expires_at IS NOT NULL`,
    `CREATE TABLE IF NOT EXISTS ${t.sessions} (
  id TEXT PRIMARY KEY NOT NULL,
  project_id TEXT NOT NULL,
  mode TEXT NOT NULL,
  client_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  idle_timeout_ms INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  max_expires_at INTEGER NOT NULL,
  revoked_at INTEGER
)`,
    `CREATE INDEX IF NOT EXISTS ${t.sessions}_client_idx ON ${t.sessions} (project_id, mode, client_id)`,
    `CREATE INDEX IF NOT EXISTS ${t.sessions}_expires_idx ON ${t.sessions} (expires_at)`,
    `CREATE TABLE IF NOT EXISTS ${t.changes} (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  payload TEXT NOT NULL,
  created_at INTEGER NOT NULL
)`,
    `CREATE INDEX IF NOT EXISTS ${t.changes}_created_idx ON ${t.changes} (created_at)`,
  ]
}

const INIT: Readonly<Record<SqlDialectName, (tables: TableNames) => string[]>> = {
  postgres: postgresInit,
  mysql: mysqlInit,
  sqlite: sqliteInit,
}

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
  const build = INIT[dialect]
  if (build === undefined) {
    throw new TypeError(`getMigrations: dialect must be one of ${Object.keys(INIT).join(', ')}`)
  }
  const tables = tableNames(checkTablePrefix(options.tablePrefix, 'getMigrations'))
  return [{ name: '001_init', statements: build(tables) }]
}

/** The bookkeeping table `migrate()` keeps; not part of the plain `.sql` files. */
export function migrationsTableStatement(dialect: SqlDialectName, table: string): string {
  const suffix =
    dialect === 'mysql' ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : ''
  return `CREATE TABLE IF NOT EXISTS ${table} (name VARCHAR(128) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)${suffix}`
}

/**
 * A migration as the text of its plain `.sql` file (default prefix), as shipped in
 * `adapters/sql/migrations/<dialect>/<name>.sql`; a test keeps the files equal to this.
 */
export function renderMigrationFile(dialect: SqlDialectName, migration: SqlMigration): string {
  const header = [
    `-- portcullis ${migration.name} for ${dialect === 'mysql' ? 'MySQL / MariaDB' : dialect === 'postgres' ? 'PostgreSQL' : 'SQLite'}.`,
    `-- The same statements migrate() runs (adapters/sql/migrations.ts), for teams that apply`,
    `-- migrations with their own tools. Tables use the default prefix "${DEFAULT_TABLE_PREFIX}": replace`,
    '-- it everywhere if you configure another tablePrefix. Every statement is idempotent.',
  ]
  return `${header.join('\n')}\n\n${migration.statements.map((statement) => `${statement};`).join('\n\n')}\n`
}
