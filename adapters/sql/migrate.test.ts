import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Kysely, SqliteDialect, sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SqlDialectName } from './dialect.js'
import { migrate } from './migrate.js'
import { getMigrations, migrationFiles } from './migrations.js'
import { DEFAULT_TABLE_PREFIX, tableNames } from './schema.js'
import {
  createDatabase,
  dialectsUnderTest,
  type TestConnection,
  type TestDatabase,
  type TestKysely,
} from './test-support/databases.js'

const here = dirname(fileURLToPath(import.meta.url))
const DIALECTS: SqlDialectName[] = ['postgres', 'mysql', 'sqlite']

/** The statements of a shipped `.sql` file, for the given table prefix. */
function statementsOfFile(dialect: SqlDialectName, name: string, prefix: string): string[] {
  const text = readFileSync(join(here, 'migrations', dialect, `${name}.sql`), 'utf8')
  return text
    .split(/;\n/)
    .map((part) => part.replace(/^--.*$/gm, '').trim())
    .filter((part) => part.length > 0)
    .map((statement) => statement.replaceAll(DEFAULT_TABLE_PREFIX, prefix))
}

describe('plain SQL migration files', () => {
  for (const { path, text } of migrationFiles()) {
    it(`migrations/${path} is generated from the schema definition`, () => {
      const committed = readFileSync(join(here, 'migrations', path), 'utf8')
      expect(committed, `${path} is stale: run npm run write:migrations`).toBe(text)
    })
  }

  it('holds no .sql file the schema definition does not generate', () => {
    const root = join(here, 'migrations')
    const committed = readdirSync(root).flatMap((dialect) =>
      readdirSync(join(root, dialect)).map((file) => `${dialect}/${file}`),
    )
    expect(committed.sort()).toEqual(
      migrationFiles()
        .map((file) => file.path)
        .sort(),
    )
  })

  // Installations that ran 001_init never run it again, so its statements must stay exactly
  // those the hand-written DDL of earlier releases ran (SHA-256 of them joined by ";\n").
  it.each([
    ['postgres', '0fa1233bc2fce5f1723238bb0b28f39ad94dfee56f49de6a29c98d298c9f1b05'],
    ['mysql', 'bb3e3831541a88aa57d1958d0bd380b32e1d8354e806f35f8854a013dc10d273'],
    ['sqlite', 'dfbbb02364fa86ce523c7b263a66423bf32a7abc844cfd5d290422e6e6ff0562'],
  ] as const)('001_init for %s is what earlier releases ran', (dialect, digest) => {
    const [init] = getMigrations(dialect)
    expect(init?.name).toBe('001_init')
    const statements = init?.statements.join(';\n') ?? ''
    expect(createHash('sha256').update(statements).digest('hex')).toBe(digest)
  })

  it('names migrations in the order they apply', () => {
    for (const dialect of DIALECTS) {
      const names = getMigrations(dialect).map((migration) => migration.name)
      expect(names).toEqual([...new Set(names)].sort())
    }
  })

  it('refuses a table prefix that would need quoting', () => {
    expect(() => getMigrations('sqlite', { tablePrefix: 'Auth-' })).toThrow(TypeError)
    expect(() => getMigrations('sqlite', { tablePrefix: 'x'.repeat(41) })).toThrow(TypeError)
    expect(getMigrations('sqlite', { tablePrefix: '' })[0]?.statements[0]).toContain(
      'CREATE TABLE IF NOT EXISTS keys',
    )
  })
})

/** The names of the indexes on one table, from the dialect's catalog. */
async function indexesOf(
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
async function schemaOf(db: TestKysely, dialect: SqlDialectName, prefix: string) {
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
function earlierMigrationsTable(dialect: SqlDialectName, table: string): string {
  const options =
    dialect === 'mysql' ? ' ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin' : ''
  return `CREATE TABLE IF NOT EXISTS ${table} (name VARCHAR(128) NOT NULL PRIMARY KEY, applied_at BIGINT NOT NULL)${options}`
}

for (const { dialect, available } of await dialectsUnderTest()) {
  describe.skipIf(!available)(`migrate (${dialect})`, () => {
    let database: TestDatabase
    const others: TestDatabase[] = []
    /** Another installation, under its own prefix (SQLite: its own file). */
    const another = () => {
      const created = createDatabase(dialect)
      others.push(created)
      return created
    }
    /** Runs 001_init's shipped `.sql` file, as a team applying it with its own tool would. */
    const applyShippedInit = async (target: TestDatabase, connection: TestConnection) => {
      for (const statement of statementsOfFile(dialect, '001_init', target.prefix)) {
        await sql.raw(statement).execute(connection.db)
      }
    }

    beforeAll(() => {
      database = createDatabase(dialect)
    })
    afterAll(async () => {
      await database?.drop()
      for (const other of others) await other.drop()
    })

    it('is safe to run concurrently from two instances, then twice in a row', async () => {
      const [a, b] = [database.connect(), database.connect()]
      const options = { tablePrefix: database.prefix }
      const results = await Promise.all([migrate(a.db, options), migrate(b.db, options)])
      expect(results.map((result) => result.applied).sort()).toEqual([[], ['001_init']])
      expect(await migrate(a.db, options)).toEqual({ applied: [] })
      expect(await migrate(b.db, options)).toEqual({ applied: [] })
      const tables = tableNames(database.prefix)
      const { rows } = await sql<{
        name: string
      }>`select name from ${sql.table(tables.migrations)}`.execute(a.db)
      expect(rows.map((row) => String(row.name))).toEqual(['001_init'])
    })

    it('creates an index for every lookup the store makes', async () => {
      const connection = database.connect()
      const tables = tableNames(database.prefix)
      const keys = await indexesOf(connection, dialect, tables.keys)
      const sessions = await indexesOf(connection, dialect, tables.sessions)
      const changes = await indexesOf(connection, dialect, tables.changes)
      for (const name of ['id_key', 'hash_key', 'project_idx', 'expires_idx']) {
        expect(keys).toContain(`${tables.keys}_${name}`)
      }
      for (const name of ['client_idx', 'expires_idx']) {
        expect(sessions).toContain(`${tables.sessions}_${name}`)
      }
      expect(changes).toContain(`${tables.changes}_created_idx`)
    })

    it('builds from the shipped .sql file the schema migrate() builds', async () => {
      const migrated = database.connect()
      await migrate(migrated.db, { tablePrefix: database.prefix })
      const expected = await schemaOf(migrated.db, dialect, database.prefix)
      for (const table of ['keys', 'sessions', 'changes', 'migrations']) {
        expect(expected.join('\n')).toContain(`P_${table}`)
      }
      const byHand = another()
      const connection = byHand.connect()
      await applyShippedInit(byHand, connection)
      // Compared before migrate() runs, which would fill in anything the file lacked.
      expect(await schemaOf(connection.db, dialect, byHand.prefix)).toEqual(
        expected.filter((line) => !line.includes('P_migrations')),
      )
      // migrate() afterwards finds the tables there and only records the migration.
      expect(await migrate(connection.db, { tablePrefix: byHand.prefix })).toEqual({
        applied: ['001_init'],
      })
      expect(await schemaOf(connection.db, dialect, byHand.prefix)).toEqual(expected)
    })

    it('finds nothing to do on a database an earlier release migrated', async () => {
      const earlier = another()
      const connection = earlier.connect()
      const tables = tableNames(earlier.prefix)
      // What an earlier release's migrate() left: 001_init (pinned above) and its record.
      await applyShippedInit(earlier, connection)
      await sql.raw(earlierMigrationsTable(dialect, tables.migrations)).execute(connection.db)
      await sql`insert into ${sql.table(tables.migrations)} (name, applied_at)
        values ('001_init', ${1_700_000_000_000})`.execute(connection.db)
      const before = await schemaOf(connection.db, dialect, earlier.prefix)

      expect(await migrate(connection.db, { tablePrefix: earlier.prefix })).toEqual({ applied: [] })
      expect(await schemaOf(connection.db, dialect, earlier.prefix)).toEqual(before)
      const { rows } = await sql<{ name: string; applied_at: unknown }>`select name, applied_at
        from ${sql.table(tables.migrations)}`.execute(connection.db)
      expect(rows.map((row) => [String(row.name), Number(row.applied_at)])).toEqual([
        ['001_init', 1_700_000_000_000],
      ])
    })
  })
}

describe('SQLite query plans', () => {
  it('uses an index for every lookup, update and delete the store makes', async () => {
    const handle = new Database(':memory:')
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: handle }) })
    await migrate(db)
    const statements = [
      'select * from portcullis_keys where hash = ?',
      'select * from portcullis_keys where id = ?',
      'select * from portcullis_keys where project_id = ? order by seq',
      'select * from portcullis_sessions where id = ?',
      'select * from portcullis_sessions where project_id = ? and mode = ? and client_id = ? order by created_at, id',
      'update portcullis_sessions set expires_at = max(expires_at, min(? + idle_timeout_ms, max_expires_at)) where id = ? and revoked_at is null and expires_at > ?',
      'update portcullis_sessions set revoked_at = ? where project_id = ? and mode = ? and client_id = ? and revoked_at is null',
      'delete from portcullis_sessions where id in (select id from portcullis_sessions where expires_at <= ? limit 1000)',
      'delete from portcullis_keys where seq in (select seq from portcullis_keys where expires_at is not null and expires_at <= ? limit 1000)',
      'select seq, payload from portcullis_changes where seq > ? order by seq limit 500',
      'delete from portcullis_changes where seq in (select seq from portcullis_changes where created_at <= ? and seq < ? limit 1000)',
    ]
    for (const statement of statements) {
      const parameters = Array.from(statement.matchAll(/\?/g), () => 1)
      const plan = handle.prepare(`explain query plan ${statement}`).all(...parameters) as {
        detail: string
      }[]
      // "SCAN <table>" is a full table scan; "SEARCH … USING INDEX" is O(log n).
      for (const { detail } of plan) expect(detail, statement).not.toMatch(/^SCAN portcullis_/)
    }
    await db.destroy()
  })
})
