import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getMigrations } from './migrations.js'
import { renderChange } from './render-ddl.js'
import { tableNames } from './schema.js'
import {
  addColumns,
  column,
  createTable,
  epochMs,
  id,
  jsonText,
  nullableColumn,
  serial,
  text,
} from './schema-definition.js'
import { createDatabase, dialectsUnderTest, type TestDatabase } from './test-support/databases.js'

// The shape of 002_key_permissions_metadata: one declaration, rendered for every dialect.
const addKeyMetadata = addColumns('keys', [
  nullableColumn('permissions', jsonText()),
  nullableColumn('metadata', jsonText()),
])

describe('renderChange', () => {
  const tables = tableNames('auth_')

  it('adds nullable columns in each dialect’s spelling', () => {
    expect(renderChange('postgres', addKeyMetadata, tables)).toEqual([
      'ALTER TABLE auth_keys ADD COLUMN IF NOT EXISTS permissions text, ADD COLUMN IF NOT EXISTS metadata text',
    ])
    expect(renderChange('mysql', addKeyMetadata, tables)).toEqual([
      'ALTER TABLE auth_keys ADD COLUMN permissions TEXT NULL, ADD COLUMN metadata TEXT NULL',
    ])
    expect(renderChange('sqlite', addKeyMetadata, tables)).toEqual([
      'ALTER TABLE auth_keys ADD COLUMN permissions TEXT',
      'ALTER TABLE auth_keys ADD COLUMN metadata TEXT',
    ])
  })

  it('gives each logical type its type per dialect', () => {
    const change = addColumns('sessions', [
      nullableColumn('a', id()),
      nullableColumn('b', id(1024)),
      nullableColumn('c', text(8)),
      nullableColumn('d', text()),
      nullableColumn('e', epochMs()),
    ])
    expect(renderChange('mysql', change, tables)[0]).toBe(
      'ALTER TABLE auth_sessions ADD COLUMN a VARBINARY(128) NULL, ADD COLUMN b VARBINARY(1024) NULL, ADD COLUMN c VARCHAR(8) NULL, ADD COLUMN d TEXT NULL, ADD COLUMN e BIGINT NULL',
    )
    expect(renderChange('postgres', change, tables)[0]).toBe(
      `ALTER TABLE auth_sessions ${['a text', 'b text', 'c text', 'd text', 'e bigint'].map((c) => `ADD COLUMN IF NOT EXISTS ${c}`).join(', ')}`,
    )
    expect(renderChange('sqlite', change, tables).at(-1)).toBe(
      'ALTER TABLE auth_sessions ADD COLUMN e INTEGER',
    )
  })

  it('refuses declarations no dialect can apply', () => {
    expect(() => addColumns('keys', [column('scope', text())])).toThrow(/must be nullable/)
    expect(() => addColumns('keys', [])).toThrow(/at least one column/)
    const table = { table: 'changes', indexes: [] } as const
    expect(() =>
      createTable({
        ...table,
        columns: [column('id', id()), column('seq', serial())],
        primaryKey: 'id',
      }),
    ).toThrow(/serial column must be the primary key/)
    expect(() =>
      createTable({ ...table, columns: [nullableColumn('id', id())], primaryKey: 'id' }),
    ).toThrow(/must be a NOT NULL column/)
    expect(() =>
      createTable({
        ...table,
        columns: [column('id', id())],
        primaryKey: 'id',
        indexes: [{ suffix: 'x_idx', columns: ['missing'] }],
      }),
    ).toThrow(/unknown columns missing/)
  })
})

for (const { dialect, available } of await dialectsUnderTest()) {
  describe.skipIf(!available)(`addColumns on a database at 001_init (${dialect})`, () => {
    let database: TestDatabase

    beforeAll(() => {
      database = createDatabase(dialect)
    })
    afterAll(async () => {
      await database?.drop()
    })

    it('adds columns that existing rows read as NULL and new rows can fill', async () => {
      const { db } = database.connect()
      const tables = tableNames(database.prefix)
      // The tables as 001_init built them (migrate() would add the columns itself).
      const [init] = getMigrations(dialect, { tablePrefix: database.prefix })
      for (const statement of init?.statements ?? []) await sql.raw(statement).execute(db)
      const key = (keyId: string) => sql`insert into ${sql.table(tables.keys)}
        (id, project_id, type, mode, name, hash, prefix, last4, allowed_ips, created_at)
        values (${keyId}, 'p', 'secret', 'test', 'n', ${`hash-${keyId}`}, 'sk_test', 'abcd', '[]', 1)`
      await key('before').execute(db)

      for (const statement of renderChange(dialect, addKeyMetadata, tables)) {
        await sql.raw(statement).execute(db)
      }
      await key('after').execute(db)
      await sql`update ${sql.table(tables.keys)} set metadata = ${'{"team":"a"}'}
        where id = ${'after'}`.execute(db)

      const { rows } = await sql<{ id: unknown; permissions: unknown; metadata: unknown }>`
        select id, permissions, metadata from ${sql.table(tables.keys)} order by seq`.execute(db)
      expect(rows.map((row) => [String(row.id), row.permissions, row.metadata])).toEqual([
        ['before', null, null],
        ['after', null, '{"team":"a"}'],
      ])
    })
  })
}
