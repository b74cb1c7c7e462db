import { sql } from 'kysely'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createManualClock, makeKey } from '../../src/testing/index.js'
import { migrate } from './migrate.js'
import { getMigrations } from './migrations.js'
import { SqlStore } from './sql-store.js'
import { createDatabase, dialectsUnderTest, type TestDatabase } from './test-support/databases.js'
import {
  applyShipped,
  columnsOf,
  migratedByEarlierRelease,
  recordedMigrations,
  schemaOf,
} from './test-support/schemas.js'

/*
 * 002_key_permissions_metadata and 003_key_client_restrictions on databases an earlier release
 * migrated: the rows already there, and a step that has to be run again after a run that
 * stopped halfway.
 */
const ADD_KEY_FIELDS = '002_key_permissions_metadata'
const ADD_CLIENT_RESTRICTIONS = '003_key_client_restrictions'
/** Every migration, in order; the same in every dialect. */
const ALL_MIGRATIONS = getMigrations('sqlite').map((migration) => migration.name)

for (const { dialect, available } of await dialectsUnderTest()) {
  describe.skipIf(!available)(`migrate to 002 (${dialect})`, () => {
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

    it('reads a key row written before 002 with null permissions and metadata', async () => {
      const earlier = another()
      const { connection, tables } = await migratedByEarlierRelease(dialect, earlier)
      const clock = createManualClock()
      const key = makeKey(clock.now(), { name: 'Before 002', allowedIps: ['10.0.0.0/8'] })
      // The row as an earlier release's SqlStore inserted it: the 001 columns only.
      await sql`insert into ${sql.table(tables.keys)} (id, project_id, type, mode, name, hash,
          prefix, last4, allowed_ips, client_id, created_at, expires_at, last_used_at,
          rolled_to_id, rolled_from_id, sealed_secret)
        values (${key.id}, ${key.projectId}, ${key.type}, ${key.mode}, ${key.name}, ${key.hash},
          ${key.prefix}, ${key.last4}, ${JSON.stringify(key.allowedIps)}, ${null},
          ${key.createdAt}, ${null}, ${null}, ${null}, ${null}, ${null})`.execute(connection.db)

      expect(await migrate(connection.db, { tablePrefix: earlier.prefix })).toEqual({
        applied: [ADD_KEY_FIELDS, ADD_CLIENT_RESTRICTIONS],
      })
      const store = new SqlStore(connection.db, {
        tablePrefix: earlier.prefix,
        clock: clock.now,
        sweepIntervalMs: 0,
      })
      try {
        const expected = { ...key, permissions: null, metadata: null, clientRestrictions: null }
        expect(await store.getKey(key.id)).toEqual(expected)
        expect(await store.findKeyByHash(key.hash)).toEqual(expected)
        expect(await store.listKeys(key.projectId)).toEqual([expected])
        const updated = await store.updateKey(key.id, { metadata: { since: 'the upgrade' } })
        expect(updated).toEqual({ ...expected, metadata: { since: 'the upgrade' } })
        const rolled = await store.rollKey({
          id: key.id,
          replacement: makeKey(clock.now(), { projectId: key.projectId, rolledFromId: key.id }),
          oldExpiresAt: clock.now(),
        })
        expect(rolled.outcome === 'rolled' && rolled.replacement).toMatchObject({
          name: 'Before 002',
          allowedIps: ['10.0.0.0/8'],
          permissions: null,
          metadata: { since: 'the upgrade' },
          clientRestrictions: null,
        })
      } finally {
        await store.close()
      }
    })

    it('runs 002 again after a run that stopped between its ALTER TABLE and its record', async () => {
      const expected = await currentSchema()
      const earlier = another()
      const { connection, tables } = await migratedByEarlierRelease(dialect, earlier)
      // What a process that died after 002's DDL and before recording it leaves (MySQL DDL
      // commits at once; in PostgreSQL and SQLite only a hand-run file can leave this).
      for (const statement of getMigrations(dialect, { tablePrefix: earlier.prefix })[1]
        ?.statements ?? []) {
        await sql.raw(statement).execute(connection.db)
      }
      expect(await migrate(connection.db, { tablePrefix: earlier.prefix })).toEqual({
        applied: [ADD_KEY_FIELDS, ADD_CLIENT_RESTRICTIONS],
      })
      expect(await schemaOf(connection.db, dialect, earlier.prefix)).toEqual(expected)
      expect(
        (await recordedMigrations(connection, tables.migrations)).map(([name]) => name),
      ).toEqual(ALL_MIGRATIONS)
    })

    if (dialect === 'mysql') {
      it('refuses to record 002 when only some of its columns are there', async () => {
        const earlier = another()
        const { connection, tables } = await migratedByEarlierRelease(dialect, earlier)
        // Not something migrate() or the shipped file leaves (one ALTER TABLE adds both
        // columns or neither): someone added one column by hand.
        await sql.raw(`ALTER TABLE ${tables.keys} ADD COLUMN metadata TEXT`).execute(connection.db)
        await expect(migrate(connection.db, { tablePrefix: earlier.prefix })).rejects.toThrow(
          /duplicate column/i,
        )
        expect(
          (await recordedMigrations(connection, tables.migrations)).map(([name]) => name),
        ).toEqual(['001_init'])
        expect(await columnsOf(connection, dialect, tables.keys)).not.toContain('permissions')
      })
    }

    if (dialect === 'sqlite') {
      it('undoes 002’s ALTER TABLEs when recording it fails: DDL and record are one transaction', async () => {
        const earlier = another()
        const { connection, tables } = await migratedByEarlierRelease(dialect, earlier)
        // The record fails after both ALTERs ran, as if the process died right there.
        await sql
          .raw(`CREATE TRIGGER ${earlier.prefix}die BEFORE INSERT ON ${tables.migrations}
            WHEN NEW.name = '${ADD_KEY_FIELDS}' BEGIN SELECT RAISE(ABORT, 'died'); END`)
          .execute(connection.db)
        await expect(migrate(connection.db, { tablePrefix: earlier.prefix })).rejects.toThrow(
          /died/,
        )
        const columns = await columnsOf(connection, dialect, tables.keys)
        expect(columns).not.toContain('permissions')
        expect(columns).not.toContain('metadata')
        await sql.raw(`DROP TRIGGER ${earlier.prefix}die`).execute(connection.db)
        expect(await migrate(connection.db, { tablePrefix: earlier.prefix })).toEqual({
          applied: [ADD_KEY_FIELDS, ADD_CLIENT_RESTRICTIONS],
        })
        expect(await columnsOf(connection, dialect, tables.keys)).toEqual(
          expect.arrayContaining(['permissions', 'metadata']),
        )
      })

      it('adds the one column that is missing when the other was added by hand', async () => {
        const earlier = another()
        const { connection, tables } = await migratedByEarlierRelease(dialect, earlier)
        // SQLite adds one column a statement, so each is checked on its own.
        await sql.raw(`ALTER TABLE ${tables.keys} ADD COLUMN metadata TEXT`).execute(connection.db)
        expect(await migrate(connection.db, { tablePrefix: earlier.prefix })).toEqual({
          applied: [ADD_KEY_FIELDS, ADD_CLIENT_RESTRICTIONS],
        })
        expect(await columnsOf(connection, dialect, tables.keys)).toEqual(
          expect.arrayContaining(['permissions', 'metadata']),
        )
      })
    }
  })
}

for (const { dialect, available } of await dialectsUnderTest()) {
  describe.skipIf(!available)(`migrate to 003 (${dialect})`, () => {
    let database: TestDatabase
    const others: TestDatabase[] = []
    /** Another installation, under its own prefix (SQLite: its own file). */
    const another = () => {
      const created = createDatabase(dialect)
      others.push(created)
      return created
    }
    /** An installation an earlier release migrated to 002, with its records. */
    const at002 = async () => {
      const target = another()
      const migrated = await migratedByEarlierRelease(dialect, target, ['001_init', ADD_KEY_FIELDS])
      return { ...migrated, target, tablePrefix: target.prefix }
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

    it('reads a key row written at 002 with null client restrictions, and keeps its other fields', async () => {
      const { connection, tables, tablePrefix } = await at002()
      const clock = createManualClock()
      const key = makeKey(clock.now(), {
        type: 'publishable',
        prefix: 'pk_test',
        name: 'Before 003',
        metadata: { team: 'web' },
      })
      // The row as the 002 release's SqlStore inserted it: no client_restrictions column.
      await sql`insert into ${sql.table(tables.keys)} (id, project_id, type, mode, name, hash,
          prefix, last4, allowed_ips, permissions, metadata, client_id, created_at, expires_at,
          last_used_at, rolled_to_id, rolled_from_id, sealed_secret)
        values (${key.id}, ${key.projectId}, ${key.type}, ${key.mode}, ${key.name}, ${key.hash},
          ${key.prefix}, ${key.last4}, ${'[]'}, ${null}, ${'{"team":"web"}'}, ${null},
          ${key.createdAt}, ${null}, ${null}, ${null}, ${null}, ${null})`.execute(connection.db)

      expect(await migrate(connection.db, { tablePrefix })).toEqual({
        applied: [ADD_CLIENT_RESTRICTIONS],
      })
      expect(await migrate(connection.db, { tablePrefix })).toEqual({ applied: [] })
      const store = new SqlStore(connection.db, {
        tablePrefix,
        clock: clock.now,
        sweepIntervalMs: 0,
      })
      try {
        const expected = { ...key, clientRestrictions: null }
        expect(await store.getKey(key.id)).toEqual(expected)
        expect(await store.findKeyByHash(key.hash)).toEqual(expected)
        expect(await store.listKeys(key.projectId)).toEqual([expected])
        const origins = { kind: 'origins', origins: ['https://app.example.com'] } as const
        expect(await store.updateKey(key.id, { clientRestrictions: origins })).toEqual({
          ...expected,
          clientRestrictions: origins,
        })
        const rolled = await store.rollKey({
          id: key.id,
          replacement: makeKey(clock.now(), { projectId: key.projectId, rolledFromId: key.id }),
          oldExpiresAt: clock.now(),
        })
        expect(rolled.outcome === 'rolled' && rolled.replacement).toMatchObject({
          name: 'Before 003',
          metadata: { team: 'web' },
          clientRestrictions: origins,
        })
      } finally {
        await store.close()
      }
    })

    it('runs 003 again after a run that stopped between its ALTER TABLE and its record', async () => {
      const expected = await currentSchema()
      const { connection, tables, tablePrefix } = await at002()
      // What a process that died after 003's DDL and before recording it leaves.
      const step = getMigrations(dialect, { tablePrefix }).find(
        (migration) => migration.name === ADD_CLIENT_RESTRICTIONS,
      )
      expect(step?.statements).toHaveLength(1)
      for (const statement of step?.statements ?? []) {
        await sql.raw(statement).execute(connection.db)
      }
      expect(await migrate(connection.db, { tablePrefix })).toEqual({
        applied: [ADD_CLIENT_RESTRICTIONS],
      })
      expect(await schemaOf(connection.db, dialect, tablePrefix)).toEqual(expected)
      expect(
        (await recordedMigrations(connection, tables.migrations)).map(([name]) => name),
      ).toEqual(ALL_MIGRATIONS)
    })

    it('runs 003 again after its shipped file was applied by hand', async () => {
      const expected = await currentSchema()
      const { connection, tables, target } = await at002()
      await applyShipped(dialect, ADD_CLIENT_RESTRICTIONS, target, connection)
      expect(await columnsOf(connection, dialect, tables.keys)).toContain('client_restrictions')
      expect(await migrate(connection.db, { tablePrefix: target.prefix })).toEqual({
        applied: [ADD_CLIENT_RESTRICTIONS],
      })
      expect(await schemaOf(connection.db, dialect, target.prefix)).toEqual(expected)
    })

    if (dialect === 'sqlite') {
      it('undoes 003’s ALTER TABLE when recording it fails: DDL and record are one transaction', async () => {
        const { connection, tables, tablePrefix } = await at002()
        await sql
          .raw(`CREATE TRIGGER ${tablePrefix}die BEFORE INSERT ON ${tables.migrations}
            WHEN NEW.name = '${ADD_CLIENT_RESTRICTIONS}' BEGIN SELECT RAISE(ABORT, 'died'); END`)
          .execute(connection.db)
        await expect(migrate(connection.db, { tablePrefix })).rejects.toThrow(/died/)
        expect(await columnsOf(connection, dialect, tables.keys)).not.toContain(
          'client_restrictions',
        )
        await sql.raw(`DROP TRIGGER ${tablePrefix}die`).execute(connection.db)
        expect(await migrate(connection.db, { tablePrefix })).toEqual({
          applied: [ADD_CLIENT_RESTRICTIONS],
        })
        expect(await columnsOf(connection, dialect, tables.keys)).toContain('client_restrictions')
      })
    }
  })
}
