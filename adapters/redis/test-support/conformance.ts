import { describe, it } from 'vitest'
import { describeStoreConformance } from '../../../src/testing/index.js'
import { RedisStore } from '../index.js'
import type { Driver } from './drivers.js'

/** What differs between a standalone and a cluster run of the conformance suite. */
export interface RedisConformanceSetup {
  readonly driver: Driver
  /** Where to connect; read when a store is opened (a cluster's seeds are known only then). */
  readonly url: () => string
  /** Every store of this run lives under it, one more level per store. */
  readonly runPrefix: string
  /** A port nothing listens on, for the unreachable store. */
  readonly closedPort: () => number
  /** Everything stored under a prefix, as text. */
  readonly dump: (prefix: string) => Promise<string>
  /**
   * Give each store its command client only, so that it opens its own subscriber (the
   * default construction), instead of a subscriber connection of the driver's.
   */
  readonly ownSubscriber?: boolean
}

/**
 * Registers the storage conformance suite for RedisStore on one driver and returns how to open
 * and close further stores of the same run (for the adapter's own edge-case tests).
 */
export function describeRedisConformance(setup: RedisConformanceSetup) {
  const connections = new WeakMap<RedisStore, { close(): Promise<void> }>()
  const unreachable = new WeakMap<RedisStore, () => Promise<void>>()
  let stores = 0
  const nextPrefix = () => `${setup.runPrefix}${++stores}:`
  const open = async (prefix: string, clock: () => number) => {
    if (setup.ownSubscriber === true) {
      const opened = await setup.driver.connectClient(setup.url())
      const store = new RedisStore({ client: opened.client, prefix, clock })
      connections.set(store, opened)
      return store
    }
    const opened = await setup.driver.connect(setup.url())
    const store = new RedisStore({
      client: opened.client,
      subscriber: opened.subscriber,
      prefix,
      clock,
    })
    connections.set(store, opened)
    return store
  }
  const close = async (store: RedisStore) => {
    await store.close()
    await connections.get(store)?.close()
  }

  describeStoreConformance({
    name: `RedisStore (${setup.driver.name}${setup.ownSubscriber === true ? ', its own subscriber' : ''})`,
    describe,
    it,
    createStore: ({ clock }) => open(nextPrefix(), clock.now),
    createPeerStore: (store, { clock }) => open(store.prefix, clock.now),
    destroyStore: close,
    createUnavailableStore: () => {
      const { client, close: closeClient } = setup.driver.unreachable(
        `redis://127.0.0.1:${setup.closedPort()}`,
      )
      const store = new RedisStore({ client, prefix: setup.runPrefix })
      unreachable.set(store, closeClient)
      return store
    },
    destroyUnavailableStore: async (store) => {
      await unreachable.get(store as RedisStore)?.()
    },
    dumpContents: (store) => setup.dump(store.prefix),
    capabilities: { watch: true },
    unavailableWithinMs: 1500,
  })

  return { open, close, nextPrefix }
}
