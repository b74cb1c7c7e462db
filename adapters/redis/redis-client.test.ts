import { Redis as IoRedis, Cluster as IoRedisCluster } from 'ioredis'
import { Redis as IoRedis6, Cluster as IoRedis6Cluster } from 'ioredis6'
import { createClient, createCluster } from 'redis'
import { describe, expect, it } from 'vitest'
import { isStoreUnavailableError } from '../../src/index.js'
import type { RedisClient, RedisSubscriber } from './index.js'
import { RedisStore } from './index.js'
import { createCommandSender } from './redis-client.js'

describe('Redis clients RedisStore accepts', () => {
  it('types every supported client as a client and as a subscriber (checked by tsc)', () => {
    // Never connected: constructing a client opens nothing, and neither does RedisStore.
    const clients = [
      createClient(),
      createCluster({ rootNodes: [] }),
      new IoRedis({ lazyConnect: true }),
      new IoRedisCluster([], { lazyConnect: true }),
      new IoRedis6({ lazyConnect: true }),
      new IoRedis6Cluster([], { lazyConnect: true }),
    ] as const
    const asClients: readonly RedisClient[] = clients
    const asSubscribers: readonly RedisSubscriber[] = clients
    for (const client of asClients) expect(() => new RedisStore({ client })).not.toThrow()
    expect(asSubscribers).toHaveLength(6)
  })

  it('sends node-redis commands as an argument list', async () => {
    const sent: unknown[] = []
    const send = createCommandSender({
      sendCommand: async (args: string[]) => {
        sent.push(args)
        return 'ok'
      },
    })
    expect(await send(['EVALSHA', 'abc', '1', 'k'], 'k')).toBe('ok')
    expect(sent).toEqual([['EVALSHA', 'abc', '1', 'k']])
  })

  it('routes node-redis cluster commands by their first key, to a primary', async () => {
    const sent: unknown[] = []
    const send = createCommandSender({
      masters: [],
      sendCommand: async (firstKey, isReadonly, args) => {
        sent.push([firstKey, isReadonly, args])
        return 1
      },
    })
    await send(['EVALSHA', 'abc', '1', 'k'], 'k')
    expect(sent).toEqual([['k', false, ['EVALSHA', 'abc', '1', 'k']]])
  })

  it('sends ioredis commands through call(), which routes EVALSHA by its keys', async () => {
    const sent: unknown[] = []
    const send = createCommandSender({
      isCluster: false,
      call: async (command, ...args) => {
        sent.push([command, ...args])
        return 1
      },
    })
    await send(['EVALSHA', 'abc', '1', 'k'], 'k')
    expect(sent).toEqual([['EVALSHA', 'abc', '1', 'k']])
  })

  it('refuses an ioredis keyPrefix, which scripts could not honour', () => {
    expect(
      () => new RedisStore({ client: new IoRedis({ lazyConnect: true, keyPrefix: 'app:' }) }),
    ).toThrow(/keyPrefix option is not supported/)
    const cluster = new IoRedisCluster([], { lazyConnect: true, keyPrefix: 'app:' })
    expect(() => new RedisStore({ client: cluster })).toThrow(/keyPrefix/)
  })

  it('refuses anything that is not a client', () => {
    for (const client of [null, {}, 'redis://localhost', { call: () => null }]) {
      expect(() => new RedisStore({ client: client as unknown as RedisClient })).toThrow(
        /options.client must be a node-redis client or cluster/,
      )
    }
  })

  it('answers StoreUnavailableError, not "not found", on a client that was never connected', async () => {
    const store = new RedisStore({ client: createClient() })
    const error = await store.getKey('key_x').catch((caught: unknown) => caught)
    expect(isStoreUnavailableError(error)).toBe(true)
    expect((error as Error).message).toMatch(/^RedisStore: read failed: /)
  })
})
