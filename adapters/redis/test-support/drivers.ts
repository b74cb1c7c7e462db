/**
 * The Redis clients the tests run RedisStore with, each configured as the README recommends
 * (fail fast instead of queueing while Redis is down), plus helpers that look at Redis directly.
 */
import { randomBytes } from 'node:crypto'
import { Redis as IoRedis5 } from 'ioredis'
import { Redis as IoRedis6 } from 'ioredis6'
import { createClient } from 'redis'
import type { IoRedisClient, IoRedisSubscriber, RedisClient, RedisSubscriber } from '../index.js'

/** A command connection and a subscriber connection, and how to close both. */
export interface Connections {
  readonly client: RedisClient
  readonly subscriber: RedisSubscriber
  close(): Promise<void>
}

/** A command connection alone, as `new RedisStore({ client })` takes it, and how to close it. */
export interface ClientConnection {
  readonly client: RedisClient
  close(): Promise<void>
}

export interface Driver {
  readonly name: string
  /** Connects a client and a subscriber to `url` and waits until both are ready. */
  connect(url: string): Promise<Connections>
  /**
   * Connects a command client alone. `connectionName` is set on it (CLIENT SETNAME), and so
   * on every `duplicate()` of it, which lets a test find the store's own subscriber.
   */
  connectClient(url: string, options?: { connectionName?: string }): Promise<ClientConnection>
  /** A client aimed at `url` where nothing answers; it keeps trying to connect in the background. */
  unreachable(url: string): { client: RedisClient; close(): Promise<void> }
}

const ignore = () => {}

/** node-redis: no offline queue, bounded connect time, capped reconnect backoff. */
export function nodeRedisOptions(url: string) {
  return {
    url,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 1000,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000),
    },
  }
}

/** ioredis: no offline queue, command and connect timeouts, capped reconnect backoff. */
export const ioRedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  commandTimeout: 1000,
  connectTimeout: 1000,
  retryStrategy: (times: number) => Math.min(50 * 2 ** times, 1000),
  lazyConnect: true,
} as const

export const nodeRedis: Driver = {
  name: 'node-redis',
  async connect(url) {
    const client = createClient(nodeRedisOptions(url))
    client.on('error', ignore)
    const subscriber = client.duplicate()
    subscriber.on('error', ignore)
    await Promise.all([client.connect(), subscriber.connect()])
    return {
      client,
      subscriber,
      close: async () => {
        await Promise.all([client.close(), subscriber.close()])
      },
    }
  },
  async connectClient(url, options = {}) {
    const client = createClient({
      ...nodeRedisOptions(url),
      ...(options.connectionName === undefined ? {} : { name: options.connectionName }),
    })
    client.on('error', ignore)
    await client.connect()
    return { client, close: () => client.close() }
  },
  unreachable(url) {
    const client = createClient(nodeRedisOptions(url))
    client.on('error', ignore)
    client.connect().catch(ignore)
    return { client, close: async () => client.destroy() }
  },
}

/** What the tests use of an ioredis connection, common to v5 and v6. */
interface IoRedisConnection extends IoRedisClient, IoRedisSubscriber {
  on(event: 'error', listener: (error: Error) => void): unknown
  on(event: 'message', listener: (channel: string, message: string) => void): unknown
  on(event: 'ready', listener: () => void): unknown
  duplicate(): IoRedisConnection
  connect(): Promise<void>
  quit(): Promise<unknown>
  disconnect(): void
}

function ioRedisDriver(
  name: string,
  create: (url: string, connectionName?: string) => IoRedisConnection,
): Driver {
  return {
    name,
    async connectClient(url, options = {}) {
      const client = create(url, options.connectionName)
      client.on('error', ignore)
      await client.connect()
      return {
        client,
        close: async () => {
          await client.quit()
        },
      }
    },
    async connect(url) {
      const client = create(url)
      client.on('error', ignore)
      const subscriber = client.duplicate()
      subscriber.on('error', ignore)
      // With the offline queue off, commands sent before the connection is ready fail: wait.
      await Promise.all([client.connect(), subscriber.connect()])
      return {
        client,
        subscriber,
        close: async () => {
          await Promise.all([client.quit(), subscriber.quit()])
        },
      }
    },
    unreachable(url) {
      const client = create(url)
      client.on('error', ignore)
      client.connect().catch(ignore)
      return {
        client,
        close: async () => {
          client.disconnect()
        },
      }
    },
  }
}

export const ioRedis5 = ioRedisDriver(
  'ioredis 5',
  (url, connectionName) => new IoRedis5(url, { ...ioRedisOptions, connectionName }),
)
export const ioRedis6 = ioRedisDriver(
  'ioredis 6',
  (url, connectionName) => new IoRedis6(url, { ...ioRedisOptions, connectionName }),
)

export const DRIVERS: readonly Driver[] = [nodeRedis, ioRedis5, ioRedis6]

/** A prefix no other test run uses, e.g. `portcullis-test:3f9a…:`. */
export function randomPrefix(label = 'portcullis-test'): string {
  return `${label}:${randomBytes(6).toString('hex')}:`
}

/** A plain node-redis connection for looking at Redis behind the store's back. */
export async function connectAdmin(url: string) {
  const admin = createClient({ url })
  admin.on('error', ignore)
  await admin.connect()
  return admin
}

export type AdminClient = Awaited<ReturnType<typeof connectAdmin>>

/** Every key under `prefix` on one node. */
export async function keysUnder(admin: AdminClient, prefix: string): Promise<string[]> {
  const keys: string[] = []
  for await (const batch of admin.scanIterator({ MATCH: `${prefix}*`, COUNT: 1000 })) {
    keys.push(...batch)
  }
  return keys
}

/** Every key under `prefix` with its type, TTL and value, as text (for "no secret stored"). */
export async function dumpUnder(admin: AdminClient, prefix: string): Promise<string> {
  const lines: string[] = []
  for (const key of (await keysUnder(admin, prefix)).sort()) {
    const type = await admin.type(key)
    let value: unknown
    if (type === 'hash') value = await admin.hGetAll(key)
    else if (type === 'set') value = await admin.sMembers(key)
    else if (type === 'zset') value = await admin.zRange(key, 0, -1)
    else if (type === 'string') value = await admin.get(key)
    else value = `(${type})`
    lines.push(`${key} ${type} ${JSON.stringify(value)}`)
  }
  return lines.join('\n')
}

/** Deletes every key under `prefix` on one node; returns how many went. */
export async function deleteUnder(admin: AdminClient, prefix: string): Promise<number> {
  let deleted = 0
  for (const key of await keysUnder(admin, prefix)) deleted += await admin.unlink(key)
  return deleted
}
