import { describe, expect, it } from 'vitest'
import { RedisStore, type RedisStoreOptions, type RedisSubscriber } from './index.js'

const client = { sendCommand: async () => null }
const subscriber = { subscribe: async () => {}, unsubscribe: async () => {} }

describe('RedisStore options', () => {
  it('defaults the prefix to portcullis: and keeps a custom one', () => {
    expect(new RedisStore({ client }).prefix).toBe('portcullis:')
    expect(new RedisStore({ client, prefix: 'billing:auth:' }).prefix).toBe('billing:auth:')
  })

  it('refuses a prefix with hash-tag braces', () => {
    expect(() => new RedisStore({ client, prefix: 'app{1}:' })).toThrow(/without "\{" or "\}"/)
  })

  it('refuses negative or fractional durations and a clock that is not a function', () => {
    const bad: Partial<RedisStoreOptions>[] = [
      { commandTimeoutMs: -1 },
      { expiredKeyRetentionMs: 1.5 },
      { expiredSessionRetentionMs: Number.NaN },
      { clock: 5 as unknown as () => number },
    ]
    for (const options of bad)
      expect(() => new RedisStore({ client, ...options })).toThrow(TypeError)
    expect(() => new RedisStore({ client, commandTimeoutMs: 0 })).not.toThrow()
  })

  it('does not mutate the options it is given', () => {
    const options = Object.freeze({ client, subscriber, prefix: 'x:' })
    expect(() => new RedisStore(options)).not.toThrow()
  })

  it('refuses the command connection as the subscriber', () => {
    const both = { ...client, ...subscriber }
    expect(() => new RedisStore({ client: both, subscriber: both })).toThrow(
      /subscriber must be a second connection/,
    )
  })

  it('refuses a subscriber that cannot subscribe', () => {
    expect(() => new RedisStore({ client, subscriber: {} as unknown as RedisSubscriber })).toThrow(
      /options.subscriber must be a node-redis or ioredis connection/,
    )
  })

  it('explains how to enable watch() when the client cannot be duplicated', async () => {
    await expect(new RedisStore({ client }).watch(() => {})).rejects.toThrow(
      /watch\(\) needs a subscriber connection, and options.client has no duplicate\(\)/,
    )
  })

  it('refuses an onError that is not a function', () => {
    expect(
      () => new RedisStore({ client, onError: 'log' as unknown as (error: unknown) => void }),
    ).toThrow(/onError must be a function/)
  })

  it('reports a subscription that fails as StoreUnavailableError and can try again', async () => {
    let attempts = 0
    const flaky = {
      subscribe: async () => {
        attempts++
        if (attempts === 1) throw new Error('The client is offline')
      },
      unsubscribe: async () => {},
    }
    const store = new RedisStore({ client, subscriber: flaky, prefix: 'x:' })
    await expect(store.watch(() => {})).rejects.toMatchObject({
      code: 'store_unavailable',
      message: 'RedisStore: could not subscribe to x:changes: The client is offline',
    })
    const unwatch = await store.watch(() => {})
    await unwatch()
    expect(attempts).toBe(2)
  })
})
