import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createManualClock, makeKey, makeSession } from '../../src/testing/index.js'
import { serviceAvailable } from '../../test/support/services.js'
import { CLUSTER_DRIVERS } from './test-support/cluster-drivers.js'
import { describeRedisConformance } from './test-support/conformance.js'
import {
  type AdminClient,
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

  for (const driver of CLUSTER_DRIVERS) {
    const setup = {
      driver,
      url: () => seeds,
      // A level per driver: both drivers run under the same run prefix.
      runPrefix: `${runPrefix}${driver.name.replace(/\W/g, '')}:`,
      closedPort: () => closedPort,
      dump: async (prefix: string) =>
        (await Promise.all(admins.map((admin) => dumpUnder(admin, prefix)))).join('\n'),
    }
    const { open, close, nextPrefix } = describeRedisConformance(setup)
    // The cluster client alone: the store opens its own subscriber with cluster.duplicate().
    describeRedisConformance({
      ...setup,
      runPrefix: `${setup.runPrefix}own:`,
      ownSubscriber: true,
    })

    it(`${driver.name}: keeps every key record on one slot and spreads sessions over the nodes`, async () => {
      const clock = createManualClock()
      const store = await open(nextPrefix(), clock.now)
      try {
        for (let i = 0; i < 5; i++) await store.insertKey(makeKey(clock.now()))
        for (let i = 0; i < 30; i++) await store.insertSession(makeSession(clock.now()))
        const perNode = await Promise.all(admins.map((admin) => keysUnder(admin, store.prefix)))
        const holding = (pattern: RegExp) =>
          perNode.filter((keys) => keys.some((key) => pattern.test(key))).length
        expect(holding(/\{keys\}/)).toBe(1)
        expect(holding(/session:\{/)).toBeGreaterThan(1)
      } finally {
        await close(store)
      }
    })
  }
})
