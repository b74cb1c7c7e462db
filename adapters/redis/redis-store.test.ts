import { afterAll, beforeAll, describe } from 'vitest'
import { serviceAvailable, serviceUrls } from '../../test/support/services.js'
import { describeRedisConformance } from './test-support/conformance.js'
import {
  type AdminClient,
  connectAdmin,
  DRIVERS,
  deleteUnder,
  dumpUnder,
  randomPrefix,
} from './test-support/drivers.js'
import { findFreePort } from './test-support/redis-server.js'

const available = await serviceAvailable('redis')
const url = serviceUrls.redis

// Each driver twice: with a subscriber connection given, and constructed with the client alone
// (the store then opens its own subscriber with client.duplicate()).
for (const [driver, ownSubscriber] of DRIVERS.flatMap((driver) => [
  [driver, false] as const,
  [driver, true] as const,
])) {
  const how = ownSubscriber ? 'the client alone' : 'a subscriber given'
  describe.skipIf(!available)(`RedisStore with ${driver.name}, ${how}`, () => {
    // One prefix per run and driver, one more level per store, so runs never collide.
    const runPrefix = randomPrefix(
      `portcullis-test-${driver.name.replace(/\W/g, '')}${ownSubscriber ? '-own' : ''}`,
    )
    let admin: AdminClient
    let closedPort: number

    beforeAll(async () => {
      admin = await connectAdmin(url)
      closedPort = await findFreePort()
    })
    afterAll(async () => {
      await deleteUnder(admin, runPrefix)
      await admin.close()
    })

    describeRedisConformance({
      driver,
      url: () => url,
      runPrefix,
      closedPort: () => closedPort,
      dump: (prefix) => dumpUnder(admin, prefix),
      ownSubscriber,
    })
  })
}
