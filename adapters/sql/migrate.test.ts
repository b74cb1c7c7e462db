import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { SqlDialectName } from './dialect.js'
import { migrate } from './migrate.js'
import { getMigrations, migrationFiles } from './migrations.js'
import { tableNames } from './schema.js'
import { createDatabase, dialectsUnderTest, type TestDatabase } from './test-support/databases.js'
import {
  applyShipped,
  EARLIER_APPLIED_AT,
  indexesOf,
  migratedByEarlierRelease,
  recordedMigrations,
  schemaOf,
} from './test-support/schemas.js'

const here = dirname(fileURLToPath(import.meta.url))
const DIALECTS: SqlDialectName[] = ['postgres', 'mysql', 'sqlite']
const ADD_KEY_FIELDS = '002_key_permissions_metadata'
const ADD_CLIENT_RESTRICTIONS = '003_key_client_restrictions'
/** Every migration, in order; the same in every dialect. */
const ALL_MIGRATIONS = getMigrations('sqlite').map((migration) => migration.name)

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
      expect(names).toEqual(['001_init', ADD_KEY_FIELDS, ADD_CLIENT_RESTRICTIONS])
    }
  })

  it('002 adds the two nullable JSON columns of keys, and nothing else', () => {
    const added = (dialect: SqlDialectName) =>
      getMigrations(dialect, { tablePrefix: 'auth_' })[1]?.statements
    expect(added('postgres')).toEqual([
      'ALTER TABLE auth_keys ADD COLUMN IF NOT EXISTS permissions text, ADD COLUMN IF NOT EXISTS metadata text',
    ])
    expect(added('mysql')).toEqual([
      'ALTER TABLE auth_keys ADD COLUMN permissions TEXT NULL, ADD COLUMN metadata TEXT NULL',
    ])
    expect(added('sqlite')).toEqual([
      'ALTER TABLE auth_keys ADD COLUMN permissions TEXT',
      'ALTER TABLE auth_keys ADD COLUMN metadata TEXT',
    ])
  })

  it('003 adds the one nullable JSON column client_restrictions to keys, and nothing else', () => {
    const added = (dialect: SqlDialectName) =>
      getMigrations(dialect, { tablePrefix: 'auth_' })[2]?.statements
    expect(added('postgres')).toEqual([
      'ALTER TABLE auth_keys ADD COLUMN IF NOT EXISTS client_restrictions text',
    ])
    expect(added('mysql')).toEqual([
      'ALTER TABLE auth_keys ADD COLUMN client_restrictions TEXT NULL',
    ])
    expect(added('sqlite')).toEqual(['ALTER TABLE auth_keys ADD COLUMN client_restrictions TEXT'])
  })

  it('refuses a table prefix that would need quoting', () => {
    expect(() => getMigrations('sqlite', { tablePrefix: 'Auth-' })).toThrow(TypeError)
    expect(() => getMigrations('sqlite', { tablePrefix: 'x'.repeat(41) })).toThrow(TypeError)
    expect(getMigrations('sqlite', { tablePrefix: '' })[0]?.statements[0]).toContain(
      'CREATE TABLE IF NOT EXISTS keys',
    )
  })
})

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
    /** The schema as this release's migrate() builds it, under the prefix `P_`. */
    const currentSchema = async () => {
      const migrated = database.connect()
      await migrate(migrated.db, { tablePrefix: database.prefix })
      return schemaOf(migrated.db, dialect, database.prefix)
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
      expect(results.map((result) => result.applied).sort()).toEqual([[], ALL_MIGRATIONS])
      expect(await migrate(a.db, options)).toEqual({ applied: [] })
      expect(await migrate(b.db, options)).toEqual({ applied: [] })
      const tables = tableNames(database.prefix)
      const names = (await recordedMigrations(a, tables.migrations)).map(([name]) => name)
      expect(names).toEqual(ALL_MIGRATIONS)
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

    it('builds from the shipped .sql files the schema migrate() builds', async () => {
      const expected = await currentSchema()
      for (const table of ['keys', 'sessions', 'changes', 'migrations']) {
        expect(expected.join('\n')).toContain(`P_${table}`)
      }
      expect(expected.join('\n')).toMatch(/\bpermissions\b/)
      expect(expected.join('\n')).toMatch(/\bmetadata\b/)
      expect(expected.join('\n')).toMatch(/\bclient_restrictions\b/)
      const byHand = another()
      const connection = byHand.connect()
      for (const name of ALL_MIGRATIONS) await applyShipped(dialect, name, byHand, connection)
      // Compared before migrate() runs, which would fill in anything the files lacked.
      expect(await schemaOf(connection.db, dialect, byHand.prefix)).toEqual(
        expected.filter((line) => !line.includes('P_migrations')),
      )
      // migrate() afterwards finds the tables and columns there and only records the steps
      // (MySQL and SQLite: "Duplicate column name" with every column there is "applied").
      expect(await migrate(connection.db, { tablePrefix: byHand.prefix })).toEqual({
        applied: ALL_MIGRATIONS,
      })
      expect(await schemaOf(connection.db, dialect, byHand.prefix)).toEqual(expected)
    })

    it('upgrades a database an earlier release migrated to 001: 002 and 003 run', async () => {
      const expected = await currentSchema()
      const earlier = another()
      const { connection, tables } = await migratedByEarlierRelease(dialect, earlier)

      const result = await migrate(connection.db, { tablePrefix: earlier.prefix })
      expect(result).toEqual({ applied: [ADD_KEY_FIELDS, ADD_CLIENT_RESTRICTIONS] })
      expect(await migrate(connection.db, { tablePrefix: earlier.prefix })).toEqual({ applied: [] })
      expect(await schemaOf(connection.db, dialect, earlier.prefix)).toEqual(expected)
      const rows = await recordedMigrations(connection, tables.migrations)
      expect(rows[0]).toEqual(['001_init', EARLIER_APPLIED_AT])
      expect(rows.map(([name]) => name)).toEqual(ALL_MIGRATIONS)
    })

    it('upgrades a database an earlier release migrated to 002: only 003 runs', async () => {
      const expected = await currentSchema()
      const earlier = another()
      const { connection, tables } = await migratedByEarlierRelease(dialect, earlier, [
        '001_init',
        ADD_KEY_FIELDS,
      ])

      const result = await migrate(connection.db, { tablePrefix: earlier.prefix })
      expect(result).toEqual({ applied: [ADD_CLIENT_RESTRICTIONS] })
      expect(await migrate(connection.db, { tablePrefix: earlier.prefix })).toEqual({ applied: [] })
      expect(await schemaOf(connection.db, dialect, earlier.prefix)).toEqual(expected)
      const rows = await recordedMigrations(connection, tables.migrations)
      expect(rows.slice(0, 2)).toEqual([
        ['001_init', EARLIER_APPLIED_AT],
        [ADD_KEY_FIELDS, EARLIER_APPLIED_AT],
      ])
      expect(rows.map(([name]) => name)).toEqual(ALL_MIGRATIONS)
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
