/**
 * The subscriber RedisStore opens itself from `client.duplicate()`, with stand-in clients that
 * record what is done to them. The same paths against a real Redis are in
 * redis-owned-subscriber.test.ts.
 */
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { createPortcullis, isStoreUnavailableError, type StoreChange } from '../../src/index.js'
import { RedisStore } from './index.js'

type Listener = (message: string, channel: string) => void

/** A node-redis-like connection: duplicate() gives another one, which records its life. */
class FakeNodeRedis extends EventEmitter {
  readonly duplicates: FakeNodeRedis[] = []
  connects = 0
  destroyed = false
  unrefed = false
  readonly channels = new Map<string, Listener>()
  constructor(readonly behaviour: { failConnect?: Error; hangConnect?: boolean } = {}) {
    super()
  }
  async sendCommand(): Promise<unknown> {
    return null
  }
  duplicate(): FakeNodeRedis {
    const copy = new FakeNodeRedis(this.behaviour)
    this.duplicates.push(copy)
    return copy
  }
  connect(): Promise<this> {
    this.connects++
    const { failConnect, hangConnect } = this.behaviour
    if (hangConnect) return new Promise(() => {})
    if (failConnect !== undefined) {
      // As node-redis does: an 'error' event per failed attempt, and connect() keeps retrying.
      queueMicrotask(() => this.emit('error', failConnect))
      return new Promise(() => {})
    }
    queueMicrotask(() => this.emit('ready'))
    return Promise.resolve(this)
  }
  async subscribe(channel: string, listener: Listener): Promise<void> {
    this.channels.set(channel, listener)
  }
  async unsubscribe(channel: string): Promise<void> {
    this.channels.delete(channel)
  }
  destroy(): void {
    this.destroyed = true
  }
  unref(): void {
    this.unrefed = true
  }
  publish(channel: string, change: StoreChange): void {
    this.channels.get(channel)?.(JSON.stringify(change), channel)
  }
}

/** An ioredis-like `Redis` or `Cluster`: connect() once, subscribe(channel), disconnect(). */
class FakeIoRedis extends EventEmitter {
  readonly duplicates: FakeIoRedis[] = []
  readonly overrides: unknown[][] = []
  readonly subscribed: string[] = []
  connects = 0
  disconnected = false
  constructor(readonly isCluster: boolean) {
    super()
  }
  async call(): Promise<unknown> {
    return null
  }
  duplicate(...args: unknown[]): FakeIoRedis {
    this.overrides.push(args)
    const copy = new FakeIoRedis(this.isCluster)
    this.duplicates.push(copy)
    return copy
  }
  async connect(): Promise<void> {
    this.connects++
  }
  async subscribe(channel: string): Promise<unknown> {
    this.subscribed.push(channel)
    return 1
  }
  async unsubscribe(channel: string): Promise<unknown> {
    this.subscribed.splice(this.subscribed.indexOf(channel), 1)
    return 0
  }
  disconnect(): void {
    this.disconnected = true
  }
}

describe('RedisStore without a subscriber: the connection it opens itself', () => {
  it('opens a duplicate with the first watch(), delivers through it, closes it after the last', async () => {
    const client = new FakeNodeRedis()
    const store = new RedisStore({ client, prefix: 'x:' })
    expect(client.duplicates).toHaveLength(0) // nothing is opened before it is needed
    const heard: StoreChange[] = []
    const unwatchFirst = await store.watch((change) => heard.push(change))
    const unwatchSecond = await store.watch(() => {})
    expect(client.duplicates).toHaveLength(1)
    const [subscriber] = client.duplicates as [FakeNodeRedis]
    expect(subscriber.connects).toBe(1)
    expect(subscriber.unrefed).toBe(true)
    subscriber.publish('x:changes', { type: 'session', sessionId: 'cs_1' })
    expect(heard).toEqual([{ type: 'session', sessionId: 'cs_1' }])
    await unwatchFirst()
    expect(subscriber.destroyed).toBe(false)
    await unwatchSecond()
    expect(subscriber.destroyed).toBe(true)
    expect(client.destroyed).toBe(false)
  })

  it('closes its own connection on close(), never the client, and opens a new one when watched again', async () => {
    const client = new FakeNodeRedis()
    const store = new RedisStore({ client })
    await store.watch(() => {})
    await store.close()
    expect(client.duplicates[0]?.destroyed).toBe(true)
    expect(client.destroyed).toBe(false)
    const unwatch = await store.watch(() => {})
    expect(client.duplicates).toHaveLength(2)
    await unwatch()
    expect(client.duplicates[1]?.destroyed).toBe(true)
  })

  it('routes the connection errors to onError instead of crashing the process', async () => {
    const client = new FakeNodeRedis()
    const errors: unknown[] = []
    const store = new RedisStore({ client, onError: (error) => errors.push(error) })
    const unwatch = await store.watch(() => {})
    const lost = new Error('Socket closed unexpectedly')
    // An 'error' event without a listener would throw here.
    client.duplicates[0]?.emit('error', lost)
    expect(errors).toEqual([lost])
    await unwatch()
  })

  it('fails watch() at the first connection error, as StoreUnavailableError, and closes the attempt', async () => {
    const client = new FakeNodeRedis({ failConnect: new Error('connect ECONNREFUSED 127.0.0.1:1') })
    const errors: unknown[] = []
    const store = new RedisStore({ client, onError: (error) => errors.push(error) })
    const started = performance.now()
    const failure = await store.watch(() => {}).catch((error: unknown) => error)
    expect(performance.now() - started).toBeLessThan(1000)
    expect(isStoreUnavailableError(failure)).toBe(true)
    expect((failure as Error).message).toMatch(/could not subscribe.*ECONNREFUSED/)
    expect(client.duplicates[0]?.destroyed).toBe(true)
    expect(errors).toHaveLength(1)
  })

  it('stops waiting for a connection that never answers', async () => {
    const client = new FakeNodeRedis({ hangConnect: true })
    const store = new RedisStore({ client })
    const failure = await store.watch(() => {}).catch((error: unknown) => error)
    expect(isStoreUnavailableError(failure)).toBe(true)
    expect((failure as Error).message).toMatch(/no answer within 5000 ms/)
    expect(client.duplicates[0]?.destroyed).toBe(true)
  }, 10_000)

  it('announces a reset when its connection is ready again after a reconnect', async () => {
    const client = new FakeNodeRedis()
    const store = new RedisStore({ client })
    const heard: StoreChange[] = []
    const unwatch = await store.watch((change) => heard.push(change))
    client.duplicates[0]?.emit('ready')
    expect(heard).toEqual([{ type: 'reset' }])
    await unwatch()
  })

  it('never touches a subscriber that was given: no duplicate, no close', async () => {
    const client = new FakeNodeRedis()
    const subscriber = new FakeNodeRedis()
    const store = new RedisStore({ client, subscriber })
    const unwatch = await store.watch(() => {})
    expect(subscriber.channels.has('portcullis:changes')).toBe(true)
    await unwatch()
    await store.close()
    expect(client.duplicates).toHaveLength(0)
    expect(subscriber.destroyed).toBe(false)
    expect(subscriber.connects).toBe(0)
  })

  it('passes ioredis lazyConnect, so the duplicate is connected (and checked) by watch()', async () => {
    for (const isCluster of [false, true]) {
      const client = new FakeIoRedis(isCluster)
      const store = new RedisStore({ client })
      const unwatch = await store.watch(() => {})
      const [subscriber] = client.duplicates as [FakeIoRedis]
      expect(subscriber.subscribed).toEqual(['portcullis:changes'])
      await unwatch()
      expect(subscriber.connects).toBe(1)
      expect(subscriber.disconnected).toBe(true)
      expect(client.disconnected).toBe(false)
      // Redis takes its options as the only argument, Cluster as the second.
      expect(client.overrides).toEqual([
        isCluster ? [[], { lazyConnect: true }] : [{ lazyConnect: true }],
      ])
    }
  })

  it('lets a gate on new RedisStore({ client }) subscribe without any warning', async () => {
    const client = new FakeNodeRedis()
    const warnings: unknown[] = []
    const gate = createPortcullis({
      store: new RedisStore({ client }),
      sessionSecret: randomBytes(32),
      onError: (error) => warnings.push(error),
    })
    await gate.close()
    expect(warnings).toEqual([])
    expect(client.duplicates[0]?.connects).toBe(1)
    // The gate's close() ended its watch, and with it the store's own connection.
    expect(client.duplicates[0]?.destroyed).toBe(true)
  })
})
