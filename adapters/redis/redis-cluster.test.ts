import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createManualClock,
  describeStoreConformance,
  makeKey,
  makeSession,
} from '../../src/testing/index.js'
import { serviceAvailable } from '../../test/support/services.js'
import { RedisStore } from './index.js'
import { CLUSTER_DRIVERS } from './test-support/cluster-drivers.js'
import {
  type AdminClient,
  type Connections,
  connectAdmin,
  deleteUnder,
  dumpUnder,
  keysUnder,
  randomPrefix,
} from './test-support/drivers.js'
import {
  findFreePort,
  RedisClusterProcesses,
  redisBinariesAvailable,
} from './test-support/redis-server.js'

const available = (await serviceAvailable('redis')) && redisBinariesAvailable()

describe.skipIf(!available)('RedisStore on a three-master Redis Cluster', () => {
  let cluster: RedisClusterProcesses
  /** One plain connection per node, to look at each node's share of the keys. */
  let admins: AdminClient[] = []
  let seeds = ''
  let closedPort: number
  const runPrefix = randomPrefix('portcullis-cluster-test')

  beforeAll(async () => {
    cluster = await RedisClusterProcesses.start(3)
    seeds = cluster.nodes.map((node) => node.url).join(',')
    admins = await Promise.all(cluster.nodes.map((node) => connectAdmin(node.url)))
    closedPort = await findFreePort()
  }, 60_000)
  afterAll(async () => {
    for (const admin of admins) {
      await deleteUnder(admin, runPrefix)
      await admin.close()
    }
    await cluster?.dispose()
  })

  let stores = 0
  for (const driver of CLUSTER_DRIVERS) {
    const connections = new WeakMap<RedisStore, Connections>()
    const unreachable = new WeakMap<RedisStore, () => Promise<void>>()
    const open = async (prefix: string, clock: () => number) => {
      const opened = await driver.connect(seeds)
      const store = new RedisStore({
        client: opened.client,
        subscriber: opened.subscriber,
        prefix,
        clock,
      })
      connections.set(store, opened)
      return store
    }

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
      dumpContents: async (store) =>
        (await Promise.all(admins.map((admin) => dumpUnder(admin, store.prefix)))).join('\n'),
      capabilities: { watch: true },
      unavailableWithinMs: 1500,
    })

    it(`${driver.name}: keeps every key record on one slot and spreads sessions over the nodes`, async () => {
      const clock = createManualClock()
      const store = await open(`${runPrefix}${++stores}:`, clock.now)
      try {
        for (let i = 0; i < 5; i++) await store.insertKey(makeKey(clock.now()))
        for (let i = 0; i < 30; i++) await store.insertSession(makeSession(clock.now()))
        const perNode = await Promise.all(admins.map((admin) => keysUnder(admin, store.prefix)))
        const holding = (pattern: RegExp) =>
          perNode.filter((keys) => keys.some((key) => pattern.test(key))).length
        expect(holding(/\{keys\}/)).toBe(1)
        expect(holding(/session:\{/)).toBeGreaterThan(1)
      } finally {
        await connections.get(store)?.close()
      }
    })
  }
})
