import { createClient } from 'redis'

/** The Redis every bench script uses; `REDIS_URL` overrides it. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

export type BenchRedisClient = ReturnType<typeof createClient>

/**
 * A node-redis client configured as the README's Redis section says (no offline queue, a
 * connect timeout, a reconnect strategy that never gives up, an error listener), and connected,
 * on logical database `database`.
 */
export async function connectRedis(name: string, database = 0): Promise<BenchRedisClient> {
  const client = createClient({
    url: REDIS_URL,
    database,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2000,
      reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2000),
    },
  })
  client.on('error', (error: Error) => console.error(`redis (${name}):`, error.message))
  await client.connect()
  return client
}

/** A second connection for `watch()`, as the README does it: `client.duplicate()`, connected. */
export async function connectSubscriber(
  client: BenchRedisClient,
  name: string,
): Promise<BenchRedisClient> {
  const subscriber = client.duplicate()
  subscriber.on('error', (error: Error) =>
    console.error(`redis subscriber (${name}):`, error.message),
  )
  await subscriber.connect()
  return subscriber
}

/** Deletes every key under `prefix` (SCAN + UNLINK); returns how many went. */
export async function deleteByPrefix(client: BenchRedisClient, prefix: string): Promise<number> {
  if (prefix.length < 8 || /[*?[\]\\]/.test(prefix)) {
    throw new Error(`refusing to delete by the pattern prefix ${JSON.stringify(prefix)}`)
  }
  let deleted = 0
  let cursor = '0'
  do {
    const reply = await client.scan(cursor, { MATCH: `${prefix}*`, COUNT: 10_000 })
    cursor = String(reply.cursor)
    if (reply.keys.length > 0) deleted += await client.unlink(reply.keys)
  } while (cursor !== '0')
  return deleted
}
