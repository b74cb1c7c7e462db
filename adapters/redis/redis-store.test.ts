import { afterAll, beforeAll, describe, it } from 'vitest'
import { describeStoreConformance } from '../../src/testing/index.js'
import { serviceAvailable, serviceUrls } from '../../test/support/services.js'
import { RedisStore } from './index.js'
import {
  type AdminClient,
  type Connections,
  connectAdmin,
  DRIVERS,
  deleteUnder,
  dumpUnder,
  randomPrefix,
} from './test-support/drivers.js'
import { findFreePort } from './test-support/redis-server.js'

const available = await serviceAvailable('redis')
const url = serviceUrls.redis

for (const driver of DRIVERS) {
  describe.skipIf(!available)(`RedisStore with ${driver.name}`, () => {
    // One prefix per run and driver, one more level per store, so runs never collide.
    const runPrefix = randomPrefix(`portcullis-test-${driver.name.replace(/\W/g, '')}`)
    const connections = new WeakMap<RedisStore, Connections>()
    let admin: AdminClient
    let stores = 0
    let closedPort: number

    beforeAll(async () => {
      admin = await connectAdmin(url)
      closedPort = await findFreePort()
    })
    afterAll(async () => {
      await deleteUnder(admin, runPrefix)
      await admin.close()
    })

    const open = async (prefix: string, clock: () => number) => {
      const opened = await driver.connect(url)
      const store = new RedisStore({
        client: opened.client,
        subscriber: opened.subscriber,
        prefix,
        clock,
      })
      connections.set(store, opened)
      return store
    }

    const unreachable = new WeakMap<RedisStore, () => Promise<void>>()

    describeStoreConformance({
      name: `RedisStore (${driver.name})`,
      describe,
      it,
      createStore: ({ clock }) => open(`${runPrefix}${++stores}:`, clock.now),
      createPeerStore: (store, { clock }) => open(store.prefix, clock.now),
      destroyStore: async (store) => {
        await connections.get(store)?.close()
      },
      createUnavailableStore: () => {
        const { client, close } = driver.unreachable(`redis://127.0.0.1:${closedPort}`)
        const store = new RedisStore({ client, prefix: runPrefix })
        unreachable.set(store, close)
        return store
      },
      destroyUnavailableStore: async (store) => {
        await unreachable.get(store as RedisStore)?.()
      },
      dumpContents: (store) => dumpUnder(admin, store.prefix),
      capabilities: { watch: true },
      unavailableWithinMs: 1500,
    })
  })
}
