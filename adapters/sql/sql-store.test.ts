import { afterAll, beforeAll, describe, it } from 'vitest'
import { describeStoreConformance } from '../../src/testing/index.js'
import { migrate } from './migrate.js'
import { SqlStore } from './sql-store.js'
import {
  createDatabase,
  createUnreachableKysely,
  dialectsUnderTest,
  type TestConnection,
  type TestDatabase,
  type TestKysely,
} from './test-support/databases.js'

for (const { dialect, available } of await dialectsUnderTest()) {
  describe.skipIf(!available)(`SqlStore (${dialect})`, () => {
    let database: TestDatabase
    let shared: TestConnection
    /** What to release with each store: peers own their connection. */
    const owned = new WeakMap<SqlStore, TestConnection>()
    const unreachable = new WeakMap<object, TestKysely>()

    beforeAll(async () => {
      database = createDatabase(dialect)
      shared = database.connect()
      await migrate(shared.db, { tablePrefix: database.prefix })
    })
    afterAll(async () => {
      await database?.drop()
    })

    const storeOn = (connection: TestConnection, clock: () => number) =>
      new SqlStore(connection.db, {
        tablePrefix: database.prefix,
        clock,
        pollIntervalMs: 100,
        sweepIntervalMs: 0,
        ...(connection.listen === undefined ? {} : { listen: connection.listen }),
      })

    describeStoreConformance({
      name: `SqlStore (${dialect})`,
      describe,
      it,
      capabilities: { prune: true, watch: true },
      createStore: ({ clock }) => storeOn(shared, clock.now),
      createPeerStore: (_store, { clock }) => {
        const connection = database.connect()
        const peer = storeOn(connection, clock.now)
        owned.set(peer, connection)
        return peer
      },
      destroyStore: async (store) => {
        await store.close()
        await owned.get(store)?.close()
      },
      createUnavailableStore: () => {
        const db = createUnreachableKysely(dialect)
        const store = new SqlStore(db, { sweepIntervalMs: 0 })
        unreachable.set(store, db)
        return store
      },
      destroyUnavailableStore: async (store) => {
        await (store as SqlStore).close()
        await unreachable.get(store)?.destroy()
      },
      dumpContents: () => database.dump(),
      unavailableWithinMs: 3000,
    })
  })
}
