import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Kysely, SqliteDialect, sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SqlDialectName } from './dialect.js'
import { migrate } from './migrate.js'
import { getMigrations, renderMigrationFile } from './migrations.js'
import { tableNames } from './schema.js'
import {
  createDatabase,
  dialectsUnderTest,
  type TestConnection,
  type TestDatabase,
} from './test-support/databases.js'

const here = dirname(fileURLToPath(import.meta.url))
const DIALECTS: SqlDialectName[] = ['postgres', 'mysql', 'sqlite']

describe('plain SQL migration files', () => {
  // PORTCULLIS_WRITE_SQL=1 npx vitest run adapters/sql/migrate.test.ts rewrites them.
  for (const dialect of DIALECTS) {
    for (const migration of getMigrations(dialect)) {
      it(`migrations/${dialect}/${migration.name}.sql is what migrate() runs`, () => {
        const file = join(here, 'migrations', dialect, `${migration.name}.sql`)
        const expected = renderMigrationFile(dialect, migration)
        if (process.env.PORTCULLIS_WRITE_SQL === '1') writeFileSync(file, expected)
        expect(readFileSync(file, 'utf8')).toBe(expected)
      })
    }
  }

  it('applies the file as shipped to an empty SQLite database', async () => {
    const db = new Kysely<unknown>({
      dialect: new SqliteDialect({ database: new Database(':memory:') }),
    })
    const text = readFileSync(join(here, 'migrations', 'sqlite', '001_init.sql'), 'utf8')
    const statements = text
      .split(/;\n/)
      .map((part) => part.replace(/^--.*$/gm, '').trim())
      .filter((part) => part.length > 0)
    for (const statement of statements) await sql.raw(statement).execute(db)
    // migrate() afterwards finds the tables there and only records the migration.
    expect(await migrate(db)).toEqual({ applied: ['001_init'] })
    const { rows } = await sql<{ name: string }>`select name from sqlite_master
      where type = 'table' and name like 'portcullis_%' order by name`.execute(db)
    expect(rows.map((row) => row.name)).toEqual([
      'portcullis_changes',
      'portcullis_keys',
      'portcullis_migrations',
      'portcullis_sessions',
    ])
    await db.destroy()
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

for (const { dialect, available } of await dialectsUnderTest()) {
  describe.skipIf(!available)(`migrate (${dialect})`, () => {
    let database: TestDatabase

    beforeAll(() => {
      database = createDatabase(dialect)
    })
    afterAll(async () => {
      await database?.drop()
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
